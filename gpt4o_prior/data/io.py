"""Reading, writing and checking RGB images as (H, W, 3) uint8 numpy arrays.

Example:
    >>> img = as_rgb_uint8(np.zeros((4, 6, 3), np.uint8), "img")
    >>> img.shape
    (4, 6, 3)
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["as_rgb_uint8", "ImageArrayError", "read_rgb", "write_png", "encode_png", "decode_rgb", "decode_png_fast",
           "png_8bit_kind", "IMAGE_SUFFIXES", "list_images"]

#: file suffixes treated as images when scanning folders (lower case)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: str | os.PathLike, *, recursive: bool = False, required: bool = True) -> list[Path]:
    """Image files in ``folder`` (by suffix, :data:`IMAGE_SUFFIXES`; sorted), the one lister of the package.

    Hidden files (names starting with ``.``, such as the ``._NAME.png`` resource forks macOS leaves on shared
    drives) are not images of a data set and are left out.

    Args:
        folder: the folder.
        recursive: also look in sub-folders.
        required: raise when there is no image (otherwise return an empty list).

    Raises:
        FileNotFoundError: the folder does not exist, or (``required``) holds no image.

    Example:
        >>> d = Path(tempfile.mkdtemp()); _ = (d / "b.png").write_bytes(b""); _ = (d / "a.txt").write_text("")
        >>> [p.name for p in list_images(d)]
        ['b.png']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"input folder {folder} does not exist or is not a folder")
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files and required:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


class ImageArrayError(ValueError, TypeError):
    """An array that is not an (H, W, 3) uint8 RGB image. Both a ``ValueError`` and a ``TypeError``: callers
    catch either (a wrong shape is a value, a wrong dtype or a non-array a type)."""


def as_rgb_uint8(img: np.ndarray, name: str = "img") -> np.ndarray:
    """Check that ``img`` is an (H, W, 3) uint8 RGB array and return it (C-contiguous): the one RGB check of the
    package (alignment, the cache, providers, restore, metrics and reports use it).

    Args:
        img: the array to check.
        name: its name in error messages.

    Raises:
        ImageArrayError: not a numpy array, not (H, W, 3), not uint8, or empty; the message names ``img`` and says
            how to convert it.

    Example:
        >>> as_rgb_uint8(np.zeros((4, 4), np.uint8), "hazy")
        Traceback (most recent call last):
        ...
        gpt4o_prior.data.io.ImageArrayError: hazy must be an (H, W, 3) uint8 RGB array, got shape (4, 4) dtype uint8; ...
    """
    if not isinstance(img, np.ndarray):
        raise ImageArrayError(f"{name} must be an (H, W, 3) uint8 RGB numpy array, got {type(img).__name__}")
    if img.ndim != 3 or img.shape[2] != 3:
        hint = "; convert grey images with np.stack([g] * 3, -1)"
    elif img.dtype != np.uint8:
        hint = "; it needs dtype uint8: scale float images with (x * 255).round().clip(0, 255).astype(np.uint8)"
    elif img.shape[0] == 0 or img.shape[1] == 0:
        hint = ": it is empty"
    else:
        return np.ascontiguousarray(img)
    raise ImageArrayError(f"{name} must be an (H, W, 3) uint8 RGB array, got shape {tuple(img.shape)} dtype "
                          f"{img.dtype}{hint}")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_8bit_kind(data: bytes) -> str | None:
    """``"rgb"`` or ``"grey"`` for an 8-bit PNG without alpha or palette (read from its header), else ``None``.

    Such files decode to the same pixels in OpenCV as in Pillow (both ignore gamma and colour profiles and expand
    grey the same way), so the readers take OpenCV's faster decoder for them.

    Example:
        >>> png_8bit_kind(encode_png(np.zeros((1, 1, 3), np.uint8))), png_8bit_kind(b"GIF89a")
        ('rgb', None)
    """
    if len(data) < 26 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR" or data[24] != 8:
        return None
    return {2: "rgb", 0: "grey"}.get(data[25])


def decode_png_fast(data: bytes, grey: bool = False) -> np.ndarray | None:
    """OpenCV's decode of an 8-bit RGB or grey PNG: (H, W, 3) uint8 RGB, or (H, W) uint8 with ``grey`` (a grey
    file only); ``None`` for any other file, which the caller then decodes with Pillow.

    About 25 % faster than Pillow for the cache's priors, and bit-exact for these files (tested against Pillow).
    """
    kind = png_8bit_kind(data)
    if kind is None or (grey and kind != "grey"):
        return None
    import cv2  # imported here: OpenCV is needed only when reading

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if img is None:  # a damaged file: Pillow's decode says what is wrong with it
        return None
    return img if grey else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def decode_rgb(data: bytes, name: str = "image") -> np.ndarray:
    """Decode image file bytes (PNG, JPEG, ...) into an (H, W, 3) uint8 RGB array.

    8-bit RGB and grey PNGs (what the prior cache writes) go through OpenCV's faster decoder, everything else
    through Pillow; the pixels are the same either way.

    Example:
        >>> decode_rgb(encode_png(np.full((2, 3, 3), 7, np.uint8))).shape
        (2, 3, 3)
    """
    fast = decode_png_fast(data)
    if fast is not None:
        return fast
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(_to_rgb(im)).copy()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ValueError(f"{name} is not a readable image ({e}); check that the file is a complete PNG or JPEG") from e


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: keep the top 8 bits
        arr = np.asarray(im).astype(np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        im = Image.fromarray((arr / top * 255).round().clip(0, 255).astype(np.uint8))
    # Alpha is dropped (the colour channels as stored, palettes expanded): what OpenCV, and so BasicSR's and
    # MMagic's image loaders, give the network for the same file.
    return im if im.mode == "RGB" else im.convert("RGB")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 RGB array (grey is repeated, alpha dropped as OpenCV drops it).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable image (the message names it).

    Example:
        >>> from gpt4o_prior.data import bundled_images
        >>> read_rgb(bundled_images()[0]).shape
        (128, 128, 3)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    data = path.read_bytes()
    fast = decode_png_fast(data)
    if fast is not None:
        return fast
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(_to_rgb(im)).copy()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable image ({e}); re-export it as PNG or remove it") from e


def encode_png(img: np.ndarray, *, compress_level: int = 6) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 array (deterministic: same array and level, same bytes).

    Args:
        img: (H, W, 3) uint8 RGB.
        compress_level: zlib level 0-9: 6 (default) for files that are kept or shipped, 1 where speed matters
            more than size (the prior cache).

    Example:
        >>> encode_png(np.zeros((2, 2, 3), np.uint8))[:4]
        b'\\x89PNG'
    """
    img = as_rgb_uint8(img)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def write_png(path: str | Path, img: np.ndarray) -> Path:
    """Write ``img`` as PNG atomically (temporary file in the same folder, then rename); make parent folders.

    Example:
        >>> import tempfile, pathlib
        >>> p = write_png(pathlib.Path(tempfile.mkdtemp()) / "a" / "x.png", np.zeros((2, 2, 3), np.uint8))
        >>> read_rgb(p).shape
        (2, 2, 3)
    """
    path = Path(path)
    data = encode_png(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
