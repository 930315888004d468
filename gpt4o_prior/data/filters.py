"""Small numpy image filters shared by the degradations and the classical priors.

All take float arrays of shape (H, W) or (H, W, C) and filter over H and W only, with reflected borders, so the
output has the input's shape. They need numpy alone (no OpenCV, no SciPy), and are fast enough for the small
images this package works with (a 512x512 box filter takes a few milliseconds).

Example:
    >>> x = np.zeros((5, 5)); x[2, 2] = 9.0
    >>> box_filter(x, 1)[1:4, 1:4]
    array([[1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.]])
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["box_filter", "gaussian_blur", "min_filter", "median_filter_1d", "guided_filter", "luminance"]


def _pad(x: np.ndarray, r: int, axis: int) -> np.ndarray:
    pad = [(0, 0)] * x.ndim
    pad[axis] = (r, r)
    mode = "reflect" if x.shape[axis] > r else "symmetric"
    if x.shape[axis] <= r // 2:  # tiny inputs: symmetric padding cannot reach that far either
        mode = "edge"
    return np.pad(x, pad, mode=mode)


def box_filter(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1) x (2r+1) window.

    Args:
        x: (H, W) or (H, W, C) array.
        r: window radius in pixels, >= 0.

    Returns:
        float64 array of ``x``'s shape.

    Example:
        >>> box_filter(np.ones((4, 4, 3)), 2).shape
        (4, 4, 3)
    """
    out = np.asarray(x, dtype=np.float64)
    if r <= 0:
        return out.copy()
    for axis in (0, 1):
        p = _pad(out, r, axis)
        c = np.cumsum(p, axis=axis)
        zero = np.zeros_like(np.take(c, [0], axis=axis))
        c = np.concatenate([zero, c], axis=axis)
        n = out.shape[axis]
        out = (np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
               - np.take(c, np.arange(0, n), axis=axis)) / (2 * r + 1)
    return out


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with standard deviation ``sigma`` pixels (truncated at 3 sigma).

    Example:
        >>> y = gaussian_blur(np.full((9, 9), 2.0), 1.5)  # a constant image stays constant
        >>> bool(np.allclose(y, 2.0)), y.shape
        (True, (9, 9))
    """
    out = np.asarray(x, dtype=np.float64)
    if sigma <= 0:
        return out.copy()
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in (0, 1):
        p = _pad(out, r, axis)
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for i, w in enumerate(k):
            acc += w * np.take(p, np.arange(i, i + n), axis=axis)
        out = acc
    return out


def min_filter(x: np.ndarray, r: int) -> np.ndarray:
    """Minimum over a (2r+1) x (2r+1) window (grey erosion with a square).

    Example:
        >>> x = np.ones((5, 5)); x[0, 0] = 0.0
        >>> min_filter(x, 1)[:3, :3]
        array([[0., 0., 1.],
               [0., 0., 1.],
               [1., 1., 1.]])
    """
    out = np.asarray(x, dtype=np.float64)
    if r <= 0:
        return out.copy()
    for axis in (0, 1):
        p = _pad(out, r, axis)
        out = sliding_window_view(p, 2 * r + 1, axis=axis).min(axis=-1)
    return out


def median_filter_1d(x: np.ndarray, r: int, *, axis: int = 0) -> np.ndarray:
    """Median over a 2r+1 long line along ``axis`` (0: vertical, 1: horizontal).

    Example:
        >>> median_filter_1d(np.array([[0.], [0.], [9.], [0.], [0.]]), 1, axis=0).ravel()
        array([0., 0., 0., 0., 0.])
    """
    out = np.asarray(x, dtype=np.float64)
    if r <= 0:
        return out.copy()
    p = _pad(out, r, axis)
    return np.median(sliding_window_view(p, 2 * r + 1, axis=axis), axis=-1)


def luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an (H, W, 3) RGB array, in the array's own range.

    Example:
        >>> float(luminance(np.ones((1, 1, 3)))[0, 0])
        1.0
    """
    img = np.asarray(img, dtype=np.float64)
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


def guided_filter(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` guided by a grey image (He, Sun and Tang, "Guided Image Filtering").

    Args:
        guide: (H, W) guide image, values in [0, 1].
        src: (H, W) or (H, W, C) image to filter.
        r: window radius.
        eps: regularisation; larger values smooth more across edges.

    Returns:
        float64 array of ``src``'s shape.

    Example:
        >>> g = np.tile(np.linspace(0, 1, 8), (8, 1))
        >>> bool(np.allclose(guided_filter(g, g, 2, 1e-6), g, atol=1e-3))  # the guide itself is kept
        True
    """
    guide = np.asarray(guide, dtype=np.float64)
    src = np.asarray(src, dtype=np.float64)
    if src.ndim == 3:
        return np.stack([guided_filter(guide, src[..., c], r, eps) for c in range(src.shape[2])], axis=-1)
    mean_i = box_filter(guide, r)
    mean_p = box_filter(src, r)
    cov_ip = box_filter(guide * src, r) - mean_i * mean_p
    var_i = box_filter(guide * guide, r) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_filter(a, r) * guide + box_filter(b, r)
