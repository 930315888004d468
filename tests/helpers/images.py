"""Test images: the bundled photographs, resized or smoothly and locally displaced, and synthetic scenes of discs
and boxes."""
import cv2
import numpy as np

from gpt4o_prior.data.bundled import bundled_images
from gpt4o_prior.data.io import read_rgb


def photo(i: int, size: int = 128) -> np.ndarray:
    """Bundled image ``i`` as an RGB uint8 array of ``size`` x ``size``."""
    img = read_rgb(bundled_images("all")[i])
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC) if img.shape[0] != size else img


def local_warp(img: np.ndarray, amp: float, seed: int = 0) -> np.ndarray:
    """Smooth, spatially varying displacement of up to ``amp`` pixels (objects moved a little)."""
    h, w = img.shape[:2]
    rng = np.random.default_rng(seed)
    field = cv2.resize(rng.uniform(-1, 1, (4, 4, 2)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + amp * field[..., 0], gy + amp * field[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


def scene(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A synthetic clean image: flat-coloured discs and boxes on a textured background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32) + rng.random(3) * 0.3
    for _ in range(18):
        c, x0, y0, r = rng.random(3), rng.integers(0, w), rng.integers(0, h), rng.integers(4, max(6, w // 5))
        m = ((xx - x0) ** 2 + (yy - y0) ** 2 < r * r) if rng.random() < 0.5 else \
            ((abs(xx - x0) < r) & (abs(yy - y0) < rng.integers(3, r + 4)))
        img[m] = c
    img += 0.05 * np.sin(xx / 3.0)[..., None]
    return (np.clip(cv2.GaussianBlur(img, (0, 0), 0.8), 0, 1) * 255).astype(np.uint8)
