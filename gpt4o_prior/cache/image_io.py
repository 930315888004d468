"""Image bytes in the cache: format sniffing, header-only size, and PNG encoding at the cache's fast level.

Decoding and reading are :mod:`gpt4o_prior.data.io`'s (one reader for the whole package: grey repeated, alpha
dropped as OpenCV drops it, errors that name the file); they are re-exported here for the cache's modules.

Example:
    >>> import numpy as np
    >>> data = encode_png(np.zeros((2, 3, 3), np.uint8))
    >>> sniff_format(data), decode_rgb(data).shape, image_size(data)
    ('png', (2, 3, 3), (2, 3))
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..data.io import decode_rgb, read_rgb
from ..data.io import encode_png as _encode_png

__all__ = ["encode_png", "decode_rgb", "read_rgb", "image_size", "sniff_format", "EXTENSIONS"]

EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "bin": ".bin"}


def sniff_format(data: bytes) -> str:
    """``"png"``, ``"jpeg"``, ``"webp"`` or ``"bin"`` from the first bytes."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
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
