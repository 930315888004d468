"""Synthetic low light: exposure and gamma darkening, Poisson-Gaussian sensor noise, optional colour cast.

The clean image is taken to (approximately) linear light, scaled down by an exposure factor and darkened further
by a gamma above 1, then noised as a sensor would: photon shot noise (Poisson, with ``photons`` electrons at full
scale) plus read noise (Gaussian, ``read_std`` of full scale), and finally given a colour cast (per-channel gains,
as a wrong white balance in the dark does) and quantised to 8 bits.

Example:
    >>> img = np.full((16, 16, 3), 180, np.uint8)
    >>> dark = darken(img, seed=0)
    >>> dark.shape, bool(dark.mean() < img.mean() / 2)
    ((16, 16, 3), True)
"""
from __future__ import annotations

import numpy as np

from .io import as_rgb_uint8

__all__ = ["darken"]


def darken(img: np.ndarray, *, seed: int = 0, exposure: float | None = None, gamma: float | None = None,
           photons: float | None = None, read_std: float | None = None, color_cast: float | None = None,
           return_params: bool = False):
    """Turn a well-exposed image into a noisy low-light one.

    Parameters left as ``None`` are drawn from ``seed``: ``exposure`` in [0.02, 0.12], ``gamma`` in [1.0, 1.5],
    ``photons`` (log-uniform) in [150, 1500], ``read_std`` in [0.001, 0.006], ``color_cast`` in [0, 0.12]. Pass
    ``color_cast=0`` for none.

    Args:
        img: (H, W, 3) uint8 RGB clean image.
        seed: seed for the parameters and the noise.
        exposure: multiplier on linear intensity (smaller is darker).
        gamma: extra power applied to the normalised intensity (larger darkens shadows more).
        photons: expected photo-electrons at full scale; fewer means stronger shot noise; ``0`` disables it.
        read_std: standard deviation of the Gaussian read noise, as a fraction of full scale.
        color_cast: maximum relative deviation of the per-channel gains (a random direction is drawn).
        return_params: also return the parameters used (a JSON-able dict).

    Returns:
        The dark, noisy (H, W, 3) uint8 image, or ``(image, params)`` with ``return_params=True``.

    Example:
        >>> _, p = darken(np.zeros((4, 4, 3), np.uint8), seed=0, color_cast=0, return_params=True)
        >>> p["gains"]
        [1.0, 1.0, 1.0]
    """
    img = as_rgb_uint8(img, "img")
    rng = np.random.default_rng(seed)
    drawn = dict(exposure=rng.uniform(0.02, 0.12), gamma=rng.uniform(1.0, 1.5),
                 photons=float(np.exp(rng.uniform(np.log(150), np.log(1500)))), read_std=rng.uniform(0.001, 0.006),
                 color_cast=rng.uniform(0.0, 0.12))
    exposure = drawn["exposure"] if exposure is None else float(exposure)
    gamma = drawn["gamma"] if gamma is None else float(gamma)
    photons = drawn["photons"] if photons is None else float(photons)
    read_std = drawn["read_std"] if read_std is None else float(read_std)
    color_cast = drawn["color_cast"] if color_cast is None else float(color_cast)
    if not exposure > 0:
        raise ValueError(f"exposure must be > 0, got {exposure}")
    if gamma <= 0 or photons < 0 or read_std < 0 or color_cast < 0:
        raise ValueError(f"gamma must be > 0 and photons, read_std, color_cast >= 0; got gamma={gamma}, "
                         f"photons={photons}, read_std={read_std}, color_cast={color_cast}")
    direction = rng.normal(size=3)
    direction /= max(np.linalg.norm(direction), 1e-9)
    gains = np.clip(1.0 + color_cast * direction, 0.5, 1.5)

    linear = (img.astype(np.float64) / 255.0) ** 2.2
    y = exposure * linear ** gamma * gains
    if photons > 0:
        y = rng.poisson(np.clip(y, 0, None) * photons) / photons
    y = y + rng.normal(0.0, read_std, y.shape) if read_std > 0 else y
    out = np.clip(y, 0.0, 1.0) ** (1 / 2.2)
    out = (out * 255.0).round().clip(0, 255).astype(np.uint8)
    if return_params:
        params = {"degradation": "lowlight", "seed": int(seed), "exposure": float(exposure), "gamma": float(gamma),
                  "photons": float(photons), "read_std": float(read_std), "color_cast": float(color_cast),
                  "gains": [round(float(g), 6) for g in gains]}
        return out, params
    return out
