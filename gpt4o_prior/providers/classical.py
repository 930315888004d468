"""Classical (non-learned, offline, free) priors, labelled ``classical`` everywhere.

Three textbook methods, one per task, as pure functions on (H, W, 3) uint8 RGB images, plus
:class:`ClassicalProvider` that exposes them through the provider interface so their outputs go into the prior
cache like any other prior:

* :func:`dehaze_dcp`: dark channel prior dehazing (He, Sun and Tang, CVPR 2009), with the transmission refined by
  a guided filter (He, Sun and Tang, ECCV 2010) instead of soft matting;
* :func:`enhance_retinex`: Retinex-style low-light enhancement with an illumination map in the manner of LIME
  (Guo, Li and Ling, TIP 2017): illumination = max over channels, smoothed edge-aware, gamma-compressed; the image
  is divided by it, then lightly denoised;
* :func:`derain_filter`: a directional filter: rain streaks are thin, bright and near vertical, so a median across
  them (horizontal) estimates the background and only pixels brighter than it are pulled down.

They are baselines and ablations ("is any prior enough, or does a GPT prior add something?"), not GPT priors.

Example:
    >>> img = np.full((32, 32, 3), 90, np.uint8)
    >>> [f(img).shape for f in (dehaze_dcp, enhance_retinex, derain_filter)]
    [(32, 32, 3), (32, 32, 3), (32, 32, 3)]
    >>> ClassicalProvider(task="lowlight").label
    'classical'
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data.filters import gaussian_blur, guided_filter, luminance, median_filter_1d, min_filter
from ..data.io import as_rgb_uint8
from .base import OfflineProvider, check_image, register_provider

__all__ = ["dehaze_dcp", "enhance_retinex", "derain_filter", "METHODS", "ClassicalProvider"]

_VERSION = 1  # bump when an algorithm's output changes: it is part of the cache key


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def dehaze_dcp(img: np.ndarray, *, radius: int | None = None, omega: float = 0.95, t_min: float = 0.1,
               top_fraction: float = 0.001, refine: bool = True) -> np.ndarray:
    """Dark channel prior dehazing.

    Args:
        img: (H, W, 3) uint8 RGB hazy image.
        radius: radius of the dark-channel patch; default scales with the image (``min(H, W) / 60``, at least 2;
            the paper's 15 x 15 patch on 600-pixel images).
        omega: fraction of haze removed (keeps a little for depth perception).
        t_min: lower bound of the transmission.
        top_fraction: fraction of the brightest dark-channel pixels used to estimate the airlight.
        refine: refine the transmission with a guided filter (else blocky halos remain).

    Returns:
        (H, W, 3) uint8 RGB dehazed image.

    Example:
        >>> hazy = np.full((16, 16, 3), 200, np.uint8); hazy[4:12, 4:12] = 120
        >>> out = dehaze_dcp(hazy)
        >>> bool(out[8, 8].mean() < hazy[8, 8].mean())  # contrast is restored: dark areas get darker
        True
    """
    img = as_rgb_uint8(img, "img")
    x = img.astype(np.float64) / 255.0
    h, w = x.shape[:2]
    r = max(2, round(min(h, w) / 60)) if radius is None else int(radius)
    dark = min_filter(x.min(axis=2), r)
    n = max(1, int(round(dark.size * top_fraction)))
    idx = np.argpartition(dark.ravel(), -n)[-n:]
    airlight = np.clip(x.reshape(-1, 3)[idx].mean(axis=0), 0.05, 1.0)
    t = 1.0 - omega * min_filter((x / airlight).min(axis=2), r)
    if refine:
        t = guided_filter(luminance(x), t, max(4 * r, 4), 1e-3)
    t = np.clip(t, t_min, 1.0)[..., None]
    return _to_uint8((x - airlight) / t + airlight)


def enhance_retinex(img: np.ndarray, *, gamma: float = 0.7, radius: int | None = None, eps: float = 1e-3,
                    denoise: float = 1e-2, floor: float = 0.02) -> np.ndarray:
    """Retinex-style low-light enhancement with an edge-aware illumination map (LIME-like).

    Args:
        img: (H, W, 3) uint8 RGB low-light image.
        gamma: power applied to the illumination before dividing by it (below 1 keeps some darkness).
        radius: radius of the guided filter smoothing the illumination (default ``min(H, W) / 16``, at least 2).
        eps: guided-filter regularisation of the illumination (larger is smoother).
        denoise: strength of the final edge-preserving smoothing (guided filter ``eps``); 0 disables it.
        floor: lower bound of the illumination, limits how much noise in black areas is amplified.

    Returns:
        (H, W, 3) uint8 RGB enhanced image.

    Example:
        >>> dark = np.full((16, 16, 3), 20, np.uint8)
        >>> bool(enhance_retinex(dark).mean() > 3 * dark.mean())
        True
    """
    img = as_rgb_uint8(img, "img")
    x = img.astype(np.float64) / 255.0
    h, w = x.shape[:2]
    r = max(2, round(min(h, w) / 16)) if radius is None else int(radius)
    illum = x.max(axis=2)
    illum = guided_filter(illum, illum, r, eps)
    illum = np.clip(illum, floor, 1.0) ** gamma
    out = np.clip(x / illum[..., None], 0.0, 1.0)
    if denoise > 0:
        # a slightly blurred guide: in flat areas the filter then averages the amplified noise away
        out = guided_filter(gaussian_blur(luminance(out), 1.0), out, 2, denoise)
    return _to_uint8(out)


def derain_filter(img: np.ndarray, *, radius: int | None = None, tolerance: float = 0.02,
                  smooth: float = 0.0) -> np.ndarray:
    """Remove bright, thin, near-vertical rain streaks with a directional (horizontal) median filter.

    Args:
        img: (H, W, 3) uint8 RGB rainy image.
        radius: half-width of the horizontal median window; default ``min(H, W) / 40``, at least 2 (wider than a
            streak).
        tolerance: pixels up to this much (of full scale) brighter than the background estimate are kept.
        smooth: extra Gaussian blur sigma applied to the background estimate (0: none).

    Returns:
        (H, W, 3) uint8 RGB image.

    Example:
        >>> rainy = np.full((16, 16, 3), 50, np.uint8); rainy[:, 7] = 230  # one vertical streak
        >>> int(derain_filter(rainy)[:, 7].max())  # the background plus the tolerance (0.02 of 255)
        55
    """
    img = as_rgb_uint8(img, "img")
    x = img.astype(np.float64) / 255.0
    h, w = x.shape[:2]
    r = max(2, round(min(h, w) / 40)) if radius is None else int(radius)
    background = median_filter_1d(x, r, axis=1)
    if smooth > 0:
        background = gaussian_blur(background, smooth)
    return _to_uint8(np.minimum(x, background + tolerance))


#: task -> (method id, function)
METHODS = {
    "dehaze": ("dark-channel-prior", dehaze_dcp),
    "lowlight": ("retinex-illumination-map", enhance_retinex),
    "derain": ("directional-median", derain_filter),
}


@register_provider
class ClassicalProvider(OfflineProvider):
    """Offline provider wrapping the classical method of a task; its priors are labelled ``classical``.

    Args:
        task: ``"dehaze"``, ``"derain"`` or ``"lowlight"``.
        **settings: keyword arguments of the task's function (e.g. ``omega=0.9`` for dehaze); they become part of
            the cache key.

    Example:
        >>> p = ClassicalProvider(task="dehaze", omega=0.9)
        >>> p.key_fields()["params"]
        {'task': 'dehaze', 'method': 'dark-channel-prior', 'version': 1, 'settings': {'omega': 0.9}}
        >>> p.make(np.full((8, 8, 3), 128, np.uint8)).shape
        (8, 8, 3)
    """

    name = "classical"
    label = "classical"

    def __init__(self, task: str = "dehaze", **settings: Any):
        if task not in METHODS:
            raise ValueError(f"no classical method for task {task!r}: choose one of "
                             + ", ".join(repr(t) for t in METHODS))
        method, fn = METHODS[task]
        try:  # fail now, not at the first image, on a misspelt setting
            fn(np.zeros((4, 4, 3), np.uint8), **settings)
        except TypeError as e:
            raise TypeError(f"ClassicalProvider(task={task!r}): bad setting for {fn.__name__}: {e}") from e
        self.task, self.method, self._fn, self.settings = task, method, fn, dict(settings)
        self.prompt_id = task  # the task, for grouping; there is no prompt text

    def params(self) -> dict[str, Any]:
        return {"task": self.task, "method": self.method, "version": _VERSION,
                "settings": {k: self.settings[k] for k in sorted(self.settings)}}

    def make(self, image: np.ndarray, *, target: np.ndarray | None = None) -> np.ndarray:
        """Apply the task's classical method to ``image`` (``target`` is ignored)."""
        return self._fn(check_image(image, "image"), **self.settings)
