"""Simulated GPT-like priors for ablations, labelled ``simulated`` everywhere (never a GPT prior).

A GPT-image restoration looks clean but is not pixel-faithful: it is shifted, rescaled, seen from a slightly
different viewpoint, objects are moved or painted over, colours drift and fine texture is invented. To study how a
prior branch copes with each of these in isolation, :func:`simulate_prior` starts from the **clean target** (so it
needs ground truth: training and benchmark data only) and applies these errors in a controlled, seeded way:

1. geometry: a homography made of a translation (``max_shift_px``), a scale (``max_scale``), a change of
   proportions (``max_aspect``), a rotation (``max_rotation_deg``) and a perspective tilt (``perspective``), about
   the image centre, with reflected borders (a GPT output fills the frame);
2. object changes: ``object_changes`` square patches replaced by a feathered copy from elsewhere in the image
   (something removed, moved or inpainted);
3. colour: per-channel gain and offset and a saturation change (``color_shift``);
4. hallucinated detail: band-pass noise texture and over-sharpening (``detail``);
5. optionally, a different output resolution (``output_size``), as the API returns 1024-pixel images, so that the
   prior also exercises the cache's alignment back to the input's size.

Every call returns the image and a JSON-able record of exactly what was done, for the benchmark tables.

Example:
    >>> clean = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (32, 1, 3))
    >>> prior, rec = simulate_prior(clean, seed=0, max_shift_px=4)
    >>> prior.shape, rec["label"], 2.0 <= rec["shift_px"] <= 4.0
    ((32, 32, 3), 'simulated', True)
"""
from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from ..data.filters import gaussian_blur
from ..data.io import as_rgb_uint8
from .base import OfflineProvider, check_image, register_provider

__all__ = ["simulate_prior", "warp_homography", "SimulatedProvider"]

_VERSION = 1  # bump when the simulation's output changes: it is part of the cache key


def _reflect(c: np.ndarray, n: int) -> np.ndarray:
    """Reflect coordinates into [0, n - 1] (mirror without repeating the edge)."""
    if n == 1:
        return np.zeros_like(c)
    period = 2 * (n - 1)
    c = np.mod(c, period)
    return np.where(c > n - 1, period - c, c)


def warp_homography(img: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp ``img`` by the 3x3 homography ``matrix`` (mapping input pixel coordinates (x, y, 1) to output ones).

    Bilinear sampling; pixels that map from outside the image are filled by reflection.

    Args:
        img: (H, W, 3) uint8 image.
        matrix: 3x3 array.

    Returns:
        (H, W, 3) uint8 warped image.

    Example:
        >>> img = np.zeros((8, 8, 3), np.uint8); img[2, 3] = 255
        >>> shift = np.array([[1, 0, 2], [0, 1, 1], [0, 0, 1]], float)  # 2 px right, 1 px down
        >>> tuple(int(v) for v in np.argwhere(warp_homography(img, shift)[..., 0] == 255)[0])
        (3, 5)
    """
    img = as_rgb_uint8(img, "img")
    h, w = img.shape[:2]
    inv = np.linalg.inv(np.asarray(matrix, dtype=np.float64))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    pts = inv @ np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)])
    sx = _reflect(pts[0] / pts[2], w).reshape(h, w)
    sy = _reflect(pts[1] / pts[2], h).reshape(h, w)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    f = img.astype(np.float64)
    out = (f[y0, x0] * (1 - fx) * (1 - fy) + f[y0, x1] * fx * (1 - fy)
           + f[y1, x0] * (1 - fx) * fy + f[y1, x1] * fx * fy)
    return out.round().clip(0, 255).astype(np.uint8)


def _geometry(rng: np.random.Generator, h: int, w: int, max_shift_px: float, max_scale: float,
              max_rotation_deg: float, perspective: float, max_aspect: float) -> tuple[np.ndarray, dict]:
    angle = rng.uniform(0, 2 * math.pi)
    shift = rng.uniform(0.5, 1.0) * max_shift_px if max_shift_px > 0 else 0.0
    dx, dy = shift * math.cos(angle), shift * math.sin(angle)
    scale = 1.0 + rng.uniform(-max_scale, max_scale) if max_scale > 0 else 1.0
    rot = rng.uniform(-max_rotation_deg, max_rotation_deg) if max_rotation_deg > 0 else 0.0
    px, py = (rng.uniform(-perspective, perspective, 2) / max(h, w)) if perspective > 0 else (0.0, 0.0)
    aspect = 1.0 + rng.uniform(-max_aspect, max_aspect) if max_aspect > 0 else 1.0
    cx, cy = (w - 1) / 2, (h - 1) / 2
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], float)
    back = np.array([[1, 0, cx + dx], [0, 1, cy + dy], [0, 0, 1]], float)
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    stretch = np.diag([scale * math.sqrt(aspect), scale / math.sqrt(aspect), 1.0])
    similarity = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], float) @ stretch
    tilt = np.array([[1, 0, 0], [0, 1, 0], [px, py, 1]], float)
    m = back @ tilt @ similarity @ to_centre
    m = m / m[2, 2]
    rec = {"shift_px": float(shift), "shift_xy": [float(dx), float(dy)], "scale": float(scale),
           "aspect": float(aspect),
           "rotation_deg": float(rot), "perspective": [float(px), float(py)], "homography": m.round(8).tolist()}
    return m, rec


def _object_changes(x: np.ndarray, rng: np.random.Generator, count: int) -> tuple[np.ndarray, list]:
    h, w = x.shape[:2]
    out = x.copy()
    records = []
    for _ in range(count):
        size = max(2, int(round(rng.uniform(0.12, 0.25) * min(h, w))))
        if size >= min(h, w):
            break
        dst = (int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1)))
        src = (int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1)))
        ramp = np.minimum(np.arange(size) + 1, size - np.arange(size)) / max(1.0, size / 4)
        mask = np.clip(np.minimum.outer(ramp, ramp), 0, 1)[..., None]  # feathered square
        patch = x[src[1]:src[1] + size, src[0]:src[0] + size]
        region = out[dst[1]:dst[1] + size, dst[0]:dst[0] + size]
        out[dst[1]:dst[1] + size, dst[0]:dst[0] + size] = mask * patch + (1 - mask) * region
        records.append({"src_xy": list(src), "dst_xy": list(dst), "size": size})
    return out, records


def simulate_prior(target: np.ndarray, *, seed: int = 0, max_shift_px: float = 4.0, max_scale: float = 0.02,
                   max_aspect: float = 0.02, max_rotation_deg: float = 1.0, perspective: float = 0.02,
                   object_changes: int = 1, color_shift: float = 0.06, detail: float = 0.04,
                   output_size: tuple[int, int] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Make a GPT-like, not pixel-faithful version of a clean image.

    All strengths are upper bounds of seeded random draws; 0 turns an effect off (all zeros returns ``target``
    unchanged). The translation is the exception: its length is drawn in [``max_shift_px / 2``,
    ``max_shift_px``] (random direction), so a sweep over ``max_shift_px`` (0, 4, 16, 32) really moves the prior.

    Args:
        target: clean (H, W, 3) uint8 RGB image (ground truth).
        seed: seed of all random draws.
        max_shift_px: translation length bound, pixels.
        max_scale: relative zoom bound (0.02: up to 2 % in or out).
        max_aspect: bound of the relative change of proportions (width stretched, height squeezed, or back).
        max_rotation_deg: rotation bound, degrees.
        perspective: perspective tilt bound (relative change of scale across the frame).
        object_changes: number of patches replaced by a copy from elsewhere.
        color_shift: bound of the per-channel gain / offset and saturation change (fraction of full scale).
        detail: amplitude of the invented high-frequency texture and of the over-sharpening.
        output_size: ``(W, H)`` of the returned prior (bicubic resize at the end), or None for the target's size.

    Returns:
        ``(prior, record)``: the (H, W, 3) uint8 prior and a JSON-able dict (``label: "simulated"``, the seed,
        the settings and every value drawn: shift, homography, patches, colour gains, ...).

    Example:
        >>> img = np.full((16, 16, 3), 100, np.uint8)
        >>> off = dict(max_shift_px=0, max_scale=0, max_aspect=0, max_rotation_deg=0, perspective=0,
        ...            object_changes=0, color_shift=0, detail=0)
        >>> bool((simulate_prior(img, **off)[0] == img).all())
        True
    """
    target = as_rgb_uint8(target, "target")
    for k, v in dict(max_shift_px=max_shift_px, max_scale=max_scale, max_aspect=max_aspect,
                     max_rotation_deg=max_rotation_deg, perspective=perspective, object_changes=object_changes,
                     color_shift=color_shift, detail=detail).items():
        if v < 0:
            raise ValueError(f"{k} must be >= 0, got {v}")
    if output_size is not None:
        if len(output_size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in output_size):
            raise ValueError(f"output_size must be (W, H) positive integers or None, got {output_size!r}")
        output_size = (int(output_size[0]), int(output_size[1]))
    h, w = target.shape[:2]
    rng = np.random.default_rng(seed)
    settings = {"max_shift_px": float(max_shift_px), "max_scale": float(max_scale), "max_aspect": float(max_aspect),
                "max_rotation_deg": float(max_rotation_deg), "perspective": float(perspective),
                "object_changes": int(object_changes), "color_shift": float(color_shift), "detail": float(detail),
                "output_size": list(output_size) if output_size is not None else None}
    record: dict[str, Any] = {"label": "simulated", "version": _VERSION, "seed": int(seed), "settings": settings}

    m, record["geometry"] = _geometry(rng, h, w, max_shift_px, max_scale, max_rotation_deg, perspective, max_aspect)
    out = warp_homography(target, m) if not np.allclose(m, np.eye(3)) else target.copy()
    x = out.astype(np.float64) / 255.0

    x, record["object_changes"] = _object_changes(x, rng, int(object_changes))

    if color_shift > 0:
        gains = 1.0 + rng.uniform(-color_shift, color_shift, 3)
        offsets = rng.uniform(-color_shift / 2, color_shift / 2, 3)
        saturation = 1.0 + rng.uniform(-2 * color_shift, 2 * color_shift)
        grey = x.mean(axis=2, keepdims=True)
        x = (grey + (x - grey) * saturation) * gains + offsets
        record["color"] = {"gains": gains.round(6).tolist(), "offsets": offsets.round(6).tolist(),
                           "saturation": round(float(saturation), 6)}
    else:
        record["color"] = None

    if detail > 0:
        noise = rng.normal(0.0, 1.0, (h, w))
        texture = noise - gaussian_blur(noise, 1.2)
        texture /= max(texture.std(), 1e-9)
        sharpen = x - gaussian_blur(x, 1.0)
        x = x + detail * texture[..., None] + (10 * detail) * sharpen
        record["detail"] = {"texture_amplitude": float(detail), "sharpen_amount": float(10 * detail)}
    else:
        record["detail"] = None
    prior = (np.clip(x, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if output_size is not None and output_size != (w, h):
        from PIL import Image

        prior = np.asarray(Image.fromarray(prior).resize(output_size, Image.BICUBIC))
    record["shift_px"] = record["geometry"]["shift_px"]
    return prior, record


@register_provider
class SimulatedProvider(OfflineProvider):
    """Offline provider of simulated GPT-like priors (label ``simulated``): needs the clean target.

    Each image gets its own seed, derived from ``seed`` and the target's content, so a dataset's priors are
    reproducible and differ from image to image.

    Args:
        seed: base seed.
        register: pass each simulated prior through :func:`gpt4o_prior.align.align_prior` against its input
            before it is stored, as ``gpt4o-prior generate`` / ``import`` do with GPT-image outputs by default
            (the alignment's record goes into the entry's record under ``alignment``; the cache keeps the
            unregistered simulation as the raw output and the registered one as the prior). False (the default)
            stores the misaligned simulation as it is: what an ablation of misalignment needs.
        **strengths: keyword arguments of :func:`simulate_prior` (``max_shift_px=16``, ``detail=0``, ...).

    Example:
        >>> p = SimulatedProvider(max_shift_px=16)
        >>> p.label, p.params()["max_shift_px"]
        ('simulated', 16.0)
        >>> p.make(np.zeros((8, 8, 3), np.uint8))
        Traceback (most recent call last):
        ...
        ValueError: SimulatedProvider.make needs target=: simulated priors are made from the clean ground truth ...
    """

    name = "simulated"
    label = "simulated"

    def __init__(self, *, seed: int = 0, register: bool = False, max_shift_px: float = 4.0, max_scale: float = 0.02,
                 max_aspect: float = 0.02, max_rotation_deg: float = 1.0, perspective: float = 0.02,
                 object_changes: int = 1, color_shift: float = 0.06, detail: float = 0.04,
                 output_size: tuple[int, int] | None = None):
        self.seed = int(seed)
        self.register = bool(register)
        self.strengths = {"max_shift_px": float(max_shift_px), "max_scale": float(max_scale),
                          "max_aspect": float(max_aspect), "max_rotation_deg": float(max_rotation_deg),
                          "perspective": float(perspective), "object_changes": int(object_changes),
                          "color_shift": float(color_shift), "detail": float(detail)}
        for k, v in self.strengths.items():
            if v < 0:
                raise ValueError(f"SimulatedProvider: {k} must be >= 0, got {v}")
        self.output_size = None if output_size is None else [int(v) for v in output_size]
        self.last_record: dict[str, Any] | None = None
        #: with ``register``: the last simulation before registration (the cache keeps it as the raw output,
        #: as it keeps a GPT answer as returned); None otherwise.
        self.last_unregistered: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        params = {"version": _VERSION, "seed": self.seed, **self.strengths, "output_size": self.output_size}
        if self.register:  # only when on, so the keys of unregistered sets stay as they were
            params["register"] = "align_prior(affine)"
        return params

    def image_seed(self, target: np.ndarray) -> int:
        """The seed used for ``target``: from the base seed and a hash of its pixels."""
        digest = hashlib.sha256(np.ascontiguousarray(target).tobytes() + str(target.shape).encode()).digest()
        return (int.from_bytes(digest[:8], "little") ^ self.seed) & 0x7FFF_FFFF_FFFF_FFFF

    def make_with_record(self, image: np.ndarray, *, target: np.ndarray | None = None):
        """Like :meth:`make`, also returning the JSON-able record of what was done."""
        if target is None:
            raise ValueError("SimulatedProvider.make needs target=: simulated priors are made from the clean "
                             "ground truth (ablations only), so pass the target image of this input")
        check_image(image, "image")
        check_image(target, "target")
        if image.shape != target.shape:
            raise ValueError(f"image and target must have the same shape, got {image.shape} and {target.shape}")
        prior, record = simulate_prior(target, seed=self.image_seed(target), **self.strengths,
                                       output_size=None if self.output_size is None else tuple(self.output_size))
        self.last_unregistered = None
        if self.register:
            from ..align import align_prior

            self.last_unregistered = prior
            prior, record["alignment"] = align_prior(prior, image)
        self.last_record = record
        return prior, record

    def make(self, image: np.ndarray, *, target: np.ndarray | None = None) -> np.ndarray:
        """The simulated prior of ``image``, made from its clean ``target`` (required)."""
        return self.make_with_record(image, target=target)[0]
