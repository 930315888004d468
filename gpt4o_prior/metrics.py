"""PSNR and SSIM computed the way BasicSR's validation computes them, without BasicSR.

The numbers equal BasicSR 1.4.2's ``calculate_psnr`` / ``calculate_ssim`` for the same images (a test in
``tests/basicsr_plugins`` compares them): 8-bit images as float64 on the 0-255 scale, an optional border crop, the
Y channel of YCbCr (ITU-R BT.601, "studio" range, computed in float32 as BasicSR does) when asked, SSIM with an
11 x 11 Gaussian window of sigma 1.5 (``cv2.filter2D``, valid part only) averaged over the channels.

Images are RGB here; BasicSR hands BGR to its metrics, which changes nothing for PSNR and RGB SSIM, and for the Y
channel the weights are applied to the matching channels.

Example:
    >>> import numpy as np
    >>> gt = np.full((16, 16, 3), 100, np.uint8)
    >>> round(psnr(gt + 10, gt), 2), round(ssim(gt, gt), 3)
    (28.13, 1.0)
"""
from __future__ import annotations

import numpy as np

from .data.io import as_rgb_uint8

__all__ = ["psnr", "ssim", "y_channel"]

#: Y of YCbCr from RGB in [0, 1], studio range (16-235), as BasicSR's ``rgb2ycbcr`` / ``bgr2ycbcr`` (y_only).
_Y_WEIGHTS_RGB = (65.481, 128.553, 24.966)


def y_channel(image: np.ndarray) -> np.ndarray:
    """The Y channel of an RGB uint8 image on the 0-255 scale (float32, not rounded), as BasicSR's metrics take it.

    Shape:
        (H, W, 3) -> (H, W, 1).

    Example:
        >>> y_channel(np.zeros((1, 1, 3), np.uint8)).ravel().tolist()
        [16.0]
    """
    img = as_rgb_uint8(image, "image").astype(np.float32) / np.float32(255.0)
    y = np.dot(img, list(_Y_WEIGHTS_RGB)) + 16.0
    return ((y / 255.0).astype(np.float32) * np.float32(255.0))[..., None]


def _prepare(img: np.ndarray, gt: np.ndarray, crop_border: int, test_y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    img, gt = as_rgb_uint8(img, "img"), as_rgb_uint8(gt, "gt")
    if img.shape != gt.shape:
        raise ValueError(f"img {img.shape} and gt {gt.shape} must have the same shape")
    if crop_border < 0 or 2 * crop_border >= min(img.shape[:2]):
        raise ValueError(f"crop_border {crop_border} leaves nothing of a {img.shape[1]}x{img.shape[0]} image")
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
        gt = gt[crop_border:-crop_border, crop_border:-crop_border]
    if test_y_channel:
        return y_channel(img).astype(np.float64), y_channel(gt).astype(np.float64)
    return img.astype(np.float64), gt.astype(np.float64)


def psnr(img: np.ndarray, gt: np.ndarray, *, crop_border: int = 0, test_y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB (peak 255; ``inf`` for identical images).

    Args:
        img: (H, W, 3) uint8 RGB result.
        gt: (H, W, 3) uint8 RGB ground truth.
        crop_border: pixels left out at each edge.
        test_y_channel: compare the Y channel of YCbCr instead of RGB.

    Raises:
        ValueError / TypeError: not uint8 RGB arrays, different shapes, or a crop that leaves nothing.
    """
    a, b = _prepare(img, gt, crop_border, test_y_channel)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 * 255.0 / mse))


def _ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    import cv2  # lazily: only the metrics need it

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = cv2.getGaussianKernel(11, 1.5)
    window = g @ g.T

    def local_mean(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]

    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a ** 2
    var_b = local_mean(b * b) - mu_b ** 2
    cov = local_mean(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return float((num / den).mean())


def ssim(img: np.ndarray, gt: np.ndarray, *, crop_border: int = 0, test_y_channel: bool = False) -> float:
    """Structural similarity, the mean over channels of the mean SSIM map (11 x 11 Gaussian window, sigma 1.5).

    Args and errors as :func:`psnr`; images smaller than 11 pixels after the crop raise ``ValueError``.
    """
    a, b = _prepare(img, gt, crop_border, test_y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs images of at least 11 x 11 pixels, got {a.shape[1]}x{a.shape[0]}")
    return float(np.mean([_ssim_plane(a[..., i], b[..., i]) for i in range(a.shape[2])]))
