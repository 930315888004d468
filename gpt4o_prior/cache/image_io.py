"""PNG encode/decode for the cache (Pillow only) and image-format sniffing.

Example:
    >>> import numpy as np
    >>> data = encode_png(np.zeros((2, 3, 3), np.uint8))
    >>> sniff_format(data), decode_rgb(data).shape
    ('png', (2, 3, 3))
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

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


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    if img.mode != "RGB":
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(img, dtype=np.float64)
            peak = 65535.0 if arr.max() > 255 else 255.0
            arr = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
            return np.repeat(arr[..., None], 3, axis=2)
        img = img.convert("RGB")
    return np.asarray(img)


def encode_png(image: np.ndarray, *, compress_level: int = 1) -> bytes:
    """Encode an (H, W, 3) uint8 RGB array as PNG bytes (fast compression: cache files are read, not shipped)."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got {type(image).__name__} shape {shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), "RGB").save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def decode_rgb(data: bytes) -> np.ndarray:
    """Decode image bytes to (H, W, 3) uint8 RGB."""
    with Image.open(io.BytesIO(data)) as img:
        return _to_rgb_array(img)


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB."""
    with Image.open(path) as img:
        return _to_rgb_array(img)


def image_size(data: bytes) -> tuple[int, int]:
    """(height, width) of encoded image bytes, from the header only."""
    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
    return h, w
