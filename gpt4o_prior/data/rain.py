"""Rendered rain streaks: several layers of sparse noise, motion-blurred along a common falling direction.

Each layer is a sparse random field of drops, smeared into streaks by a line kernel (length and angle per layer:
near layers are longer, thicker and brighter), lightly blurred, and screen-blended onto the image. A faint veil
of scattered light is added on top, as heavy rain lowers contrast. Everything is drawn from ``seed``.

Example:
    >>> img = np.full((32, 32, 3), 60, np.uint8)
    >>> rainy = add_rain(img, seed=0)
    >>> rainy.shape, bool(rainy.mean() > img.mean())
    ((32, 32, 3), True)
"""
from __future__ import annotations

import math

import numpy as np

from .filters import gaussian_blur
from .io import as_rgb_uint8

__all__ = ["rain_layer", "add_rain"]


def rain_layer(shape: tuple[int, int], *, rng: np.random.Generator, density: float, length: int,
               angle_deg: float, thickness: float) -> np.ndarray:
    """One layer of streaks: an (H, W) float array in [0, 1].

    Args:
        shape: (H, W).
        rng: numpy random generator.
        density: fraction of pixels that start a drop.
        length: streak length in pixels.
        angle_deg: streak direction, degrees from vertical (positive leans right at the bottom).
        thickness: Gaussian blur sigma applied after the smear (0: one pixel wide).

    Example:
        >>> layer = rain_layer((16, 16), rng=np.random.default_rng(0), density=0.05, length=5,
        ...                    angle_deg=10.0, thickness=0.5)
        >>> layer.shape, bool(0 <= layer.min() and layer.max() <= 1)
        ((16, 16), True)
    """
    h, w = shape
    drops = (rng.random((h, w)) < density) * rng.uniform(0.5, 1.0, (h, w))
    theta = math.radians(angle_deg)
    dy, dx = math.cos(theta), math.sin(theta)
    length = max(1, int(length))
    streak = np.zeros((h, w))
    for s in np.linspace(-(length - 1) / 2, (length - 1) / 2, length):
        # wrap-around at the borders keeps the streak density even over the frame
        streak += np.roll(drops, (int(round(s * dy)), int(round(s * dx))), axis=(0, 1))
    streak = gaussian_blur(streak, thickness) if thickness > 0 else streak
    return np.clip(streak, 0.0, 1.0)


def add_rain(img: np.ndarray, *, seed: int = 0, layers: int | None = None, angle_deg: float | None = None,
             density: float | None = None, length: int | None = None, intensity: float | None = None,
             veil: float | None = None, return_params: bool = False):
    """Render rain streaks over a clean image.

    Parameters left as ``None`` are drawn from ``seed``: ``layers`` in {2, 3, 4}, ``angle_deg`` in [-25, 25],
    ``density`` in [0.002, 0.008] (for the farthest layer; nearer layers are sparser), ``length`` in [12, 30] px
    (for the nearest layer, scaled with the image size above 128 px), ``intensity`` in [0.5, 0.9], ``veil`` in
    [0.0, 0.12].

    Args:
        img: (H, W, 3) uint8 RGB clean image.
        seed: seed for everything drawn at random.
        layers: number of streak layers (depth planes).
        angle_deg: common falling direction, degrees from vertical; each layer deviates by up to 3 degrees.
        density: drop density of the farthest layer.
        length: streak length of the nearest layer in pixels.
        intensity: brightness of the nearest layer's streaks, in [0, 1].
        veil: strength of the grey veil of scattered light, in [0, 1].
        return_params: also return the parameters used (a JSON-able dict).

    Returns:
        The rainy (H, W, 3) uint8 image, or ``(image, params)`` with ``return_params=True``.

    Example:
        >>> _, p = add_rain(np.zeros((16, 16, 3), np.uint8), seed=3, layers=2, return_params=True)
        >>> p["layers"], len(p["per_layer"])
        (2, 2)
    """
    img = as_rgb_uint8(img, "img")
    h, w = img.shape[:2]
    rng = np.random.default_rng(seed)
    scale = max(1.0, max(h, w) / 128.0)
    drawn = dict(layers=int(rng.integers(2, 5)), angle_deg=rng.uniform(-25, 25), density=rng.uniform(0.002, 0.008),
                 length=rng.uniform(12, 30) * scale, intensity=rng.uniform(0.5, 0.9), veil=rng.uniform(0.0, 0.12))
    layers = drawn["layers"] if layers is None else int(layers)
    angle_deg = drawn["angle_deg"] if angle_deg is None else float(angle_deg)
    density = drawn["density"] if density is None else float(density)
    length = drawn["length"] if length is None else float(length)
    intensity = drawn["intensity"] if intensity is None else float(intensity)
    veil = drawn["veil"] if veil is None else float(veil)
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    if not 0 <= density <= 1:
        raise ValueError(f"density must be in [0, 1], got {density}")

    x = img.astype(np.float64) / 255.0
    rain = np.zeros((h, w))
    per_layer = []
    for i in range(layers):
        near = (i + 1) / layers  # 1.0 for the nearest layer
        spec = dict(density=density * (1.2 - 0.6 * near), length=max(2, int(round(length * (0.35 + 0.65 * near)))),
                    angle_deg=angle_deg + rng.uniform(-3, 3), thickness=0.3 + 0.5 * near,
                    intensity=intensity * (0.45 + 0.55 * near))
        layer = rain_layer((h, w), rng=rng, density=spec["density"], length=spec["length"],
                           angle_deg=spec["angle_deg"], thickness=spec["thickness"])
        rain = 1.0 - (1.0 - rain) * (1.0 - spec["intensity"] * layer)  # screen blend of the layers
        per_layer.append({k: (float(v) if k != "length" else int(v)) for k, v in spec.items()})
    out = 1.0 - (1.0 - x) * (1.0 - rain[..., None])
    out = out * (1.0 - veil) + veil * 0.85
    out = (out * 255.0).round().clip(0, 255).astype(np.uint8)
    if return_params:
        params = {"degradation": "rain", "seed": int(seed), "layers": layers, "angle_deg": float(angle_deg),
                  "density": float(density), "length": float(length), "intensity": float(intensity),
                  "veil": float(veil), "per_layer": per_layer}
        return out, params
    return out
