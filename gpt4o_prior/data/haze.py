"""Synthetic haze by the atmospheric scattering model ``I = J * t + A * (1 - t)``, ``t = exp(-beta * d)``.

There is no depth map for an arbitrary photo, so :func:`depth_proxy` builds a plausible one: far at the top of the
frame and near at the bottom, pushed further away where the (heavily smoothed) image is bright and unsaturated, as
sky and distant scenery tend to be. The result is smooth, in [0, 1], and deterministic.

Example:
    >>> img = np.full((16, 16, 3), 40, np.uint8)
    >>> hazy = add_haze(img, seed=0)
    >>> hazy.shape, hazy.dtype, bool(hazy.mean() > img.mean())
    ((16, 16, 3), dtype('uint8'), True)
"""
from __future__ import annotations

import numpy as np

from .filters import gaussian_blur, luminance
from .io import as_rgb_uint8

__all__ = ["depth_proxy", "add_haze"]


def depth_proxy(img: np.ndarray) -> np.ndarray:
    """A smooth relative depth map in [0, 1] (1 = far) for an RGB image.

    Args:
        img: (H, W, 3) uint8 RGB image.

    Returns:
        (H, W) float64 array in [0, 1].

    Example:
        >>> d = depth_proxy(np.zeros((8, 8, 3), np.uint8))
        >>> bool(d[0].mean() > d[-1].mean())  # the top of the frame is further away
        True
    """
    img = as_rgb_uint8(img, "img")
    h, w = img.shape[:2]
    x = img.astype(np.float64) / 255.0
    vertical = np.linspace(1.0, 0.0, h)[:, None] * np.ones((1, w))
    sigma = max(h, w) / 12.0
    bright = gaussian_blur(luminance(x), sigma)
    sat = gaussian_blur(x.max(axis=2) - x.min(axis=2), sigma)
    skyness = np.clip(bright - sat, 0.0, 1.0)
    d = 0.65 * vertical + 0.35 * skyness
    d = gaussian_blur(d, sigma / 2)
    lo, hi = d.min(), d.max()
    if hi - lo < 1e-6:
        return np.full((h, w), 0.5)
    return (d - lo) / (hi - lo)


def add_haze(img: np.ndarray, *, seed: int = 0, beta: float | None = None, airlight: float | None = None,
             tint: float | None = None, min_depth: float | None = None, depth: np.ndarray | None = None,
             return_params: bool = False):
    """Add atmospheric haze to a clean image.

    Parameters left as ``None`` are drawn from ``seed``: ``beta`` in [0.5, 1.5], ``airlight`` in [0.75, 0.95],
    ``tint`` (a warm/cool shift of the airlight colour) in [-0.05, 0.05], ``min_depth`` (distance of the nearest
    point) in [0.15, 0.4].

    Args:
        img: (H, W, 3) uint8 RGB clean image ``J``.
        seed: seed for the parameters drawn at random.
        beta: scattering coefficient; larger is denser haze.
        airlight: global atmospheric light ``A`` in [0, 1] (grey level of the haze).
        tint: shift of the airlight towards blue (positive) or yellow (negative).
        min_depth: depth offset, so even the nearest pixels get some haze.
        depth: (H, W) depth map in [0, 1]; :func:`depth_proxy` when ``None``.
        return_params: also return the parameters used (a JSON-able dict).

    Returns:
        The hazy (H, W, 3) uint8 image, or ``(image, params)`` with ``return_params=True``.

    Example:
        >>> _, p = add_haze(np.zeros((8, 8, 3), np.uint8), seed=1, beta=2.0, return_params=True)
        >>> p["beta"]
        2.0
    """
    img = as_rgb_uint8(img, "img")
    rng = np.random.default_rng(seed)
    drawn = dict(beta=rng.uniform(0.5, 1.5), airlight=rng.uniform(0.75, 0.95), tint=rng.uniform(-0.05, 0.05),
                 min_depth=rng.uniform(0.15, 0.4))
    beta = drawn["beta"] if beta is None else float(beta)
    airlight = drawn["airlight"] if airlight is None else float(airlight)
    tint = drawn["tint"] if tint is None else float(tint)
    min_depth = drawn["min_depth"] if min_depth is None else float(min_depth)
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if depth is None:
        depth = depth_proxy(img)
    elif depth.shape != img.shape[:2]:
        raise ValueError(f"depth must have shape {img.shape[:2]} (the image's H, W), got {depth.shape}")
    d = min_depth + (1.0 - min_depth) * np.clip(depth, 0.0, 1.0)
    t = np.exp(-beta * d)[..., None]
    a = np.clip(airlight * np.array([1.0 - tint, 1.0, 1.0 + tint]), 0.0, 1.0)
    j = img.astype(np.float64) / 255.0
    out = j * t + a * (1.0 - t)
    out = (out * 255.0).round().clip(0, 255).astype(np.uint8)
    if return_params:
        params = {"degradation": "haze", "seed": int(seed), "beta": float(beta), "airlight": float(airlight),
                  "tint": float(tint), "min_depth": float(min_depth),
                  "mean_transmission": float(t.mean())}
        return out, params
    return out
