"""Image bytes in the cache: format sniffing, header-only size, and PNG encoding at the cache's fast level.

Decoding and reading are :mod:`gpt4o_prior.data.io`'s (one reader for the whole package: grey repeated, alpha
dropped as OpenCV drops it, errors that name the file); they are re-exported here for the cache's modules.

Confidence maps are stored as 8-bit grey PNGs (:func:`encode_grey_png`, :func:`decode_grey`), and an aligned prior
that has one names it in a PNG text chunk (:func:`png_add_text`, :func:`png_text`), so that a reader can tell a
confidence that belongs to the aligned file it read from one left by another version of it.

Example:
    >>> import numpy as np
    >>> data = encode_png(np.zeros((2, 3, 3), np.uint8))
    >>> sniff_format(data), decode_rgb(data).shape, image_size(data)
    ('png', (2, 3, 3), (2, 3))
    >>> tagged = png_add_text(data, "note", "hello")
    >>> png_text(tagged), decode_rgb(tagged).shape
    ({'note': 'hello'}, (2, 3, 3))
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from ..data.io import decode_png_fast, decode_rgb, read_rgb
from ..data.io import encode_png as _encode_png

__all__ = ["encode_png", "decode_rgb", "read_rgb", "image_size", "sniff_format", "EXTENSIONS", "encode_grey_png",
           "decode_grey", "png_add_text", "png_text"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "bin": ".bin"}


def sniff_format(data: bytes) -> str:
    """``"png"``, ``"jpeg"``, ``"webp"`` or ``"bin"`` from the first bytes."""
    if data[:8] == _PNG_SIGNATURE:
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "bin"


def encode_png(image: np.ndarray, *, compress_level: int = 1) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB array at fast compression (cache files are read, not shipped)."""
    return _encode_png(image, compress_level=compress_level)


def image_size(data: bytes) -> tuple[int, int]:
    """(height, width) of encoded image bytes, from the header only."""
    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
    return h, w


def encode_grey_png(image: np.ndarray, *, compress_level: int = 1) -> bytes:
    """PNG bytes of an (H, W) uint8 array as an 8-bit grey image (how the cache stores confidence maps).

    Args:
        image: (H, W) uint8.
        compress_level: zlib level 0-9 (the cache's fast level by default).

    Returns:
        the PNG bytes (deterministic: same array and level, same bytes).

    Example:
        >>> image_size(encode_grey_png(np.zeros((2, 5), np.uint8)))
        (2, 5)
    """
    if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype != np.uint8:
        got = (f"shape {tuple(image.shape)} dtype {image.dtype}" if isinstance(image, np.ndarray)
               else type(image).__name__)
        raise ValueError(f"encode_grey_png needs an (H, W) uint8 array, got {got}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), mode="L").save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def decode_grey(data: bytes, name: str = "image") -> np.ndarray:
    """Decode image bytes into an (H, W) uint8 array (a grey PNG as stored; other modes are converted to grey).

    Example:
        >>> decode_grey(encode_grey_png(np.full((1, 2), 9, np.uint8))).tolist()
        [[9, 9]]
    """
    fast = decode_png_fast(data, grey=True)  # what the cache writes: OpenCV's faster decoder, the same pixels
    if fast is not None:
        return fast
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im if im.mode == "L" else im.convert("L")).copy()
    except (OSError, ValueError) as e:
        raise ValueError(f"{name} is not a readable grey image ({e}); run `gpt4o-prior verify`") from e


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_add_text(data: bytes, keyword: str, text: str) -> bytes:
    """PNG bytes with one ``tEXt`` chunk (``keyword``: ``text``, Latin-1) inserted after the header chunk.

    The pixels are unchanged (every PNG reader skips text chunks).

    Args:
        data: PNG bytes.
        keyword: 1 to 79 Latin-1 characters.
        text: Latin-1 text.

    Returns:
        the new PNG bytes.
    """
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("png_add_text needs PNG bytes (starting with the PNG signature and its IHDR chunk)")
    if not 1 <= len(keyword) <= 79:
        raise ValueError(f"a PNG text keyword has 1 to 79 characters, got {keyword!r}")
    end = 8 + 12 + struct.unpack(">I", data[8:12])[0]
    return data[:end] + _chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1")) + data[end:]


def png_text(data: bytes) -> dict[str, str]:
    """The ``tEXt`` chunks that come before the image data of PNG bytes, as a dict (empty for other formats).

    Only the header part is read (the chunks before the first ``IDAT``), so this costs next to nothing.
    """
    out: dict[str, str] = {}
    if data[:8] != _PNG_SIGNATURE:
        return out
    pos = 8
    while pos + 8 <= len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"tEXt":
            key, _, value = data[pos + 8:pos + 8 + n].partition(b"\0")
            out[key.decode("latin-1")] = value.decode("latin-1")
        pos += 12 + n
    return out
