"""Simulated GPT-like priors for ablations, labelled ``simulated`` everywhere (never a GPT prior).

A GPT-image restoration looks clean but is not pixel-faithful: it is shifted, rescaled, seen from a slightly
different viewpoint, objects are moved or painted over, colours drift and fine texture is invented. To study how a
prior branch copes with each of these in isolation, :func:`simulate_prior` starts from the **clean target** (so it
needs ground truth: training and benchmark data only) and applies these errors in a controlled, seeded way:

1. geometry: a homography made of a translation (``max_shift_px``), a scale (``max_scale``), a change of
   proportions (``max_aspect``), a rotation (``max_rotation_deg``) and a perspective tilt (``perspective``), about
   the image centre, with reflected borders (a GPT output fills the frame);
2. reframing (``reframe_prob``): now and then a much stronger global change, as when a model answers at another
   aspect ratio that is then resized back: zoom 0.85-1.15, proportions 0.8-1.2, camera moved by up to 5 % of the
   diagonal;
3. local non-rigid motion (``local_motion_px``, ``local_motion_range``): a smooth random displacement field, what
   is left after the best global registration (outlines redrawn a few pixels away, objects nudged); its amplitude
   is drawn per image from a wide log-uniform range, as real outputs range from near-exact to clearly moved;
4. object changes: ``object_changes`` square patches replaced by a feathered copy from elsewhere in the image
   (something removed, moved or inpainted);
5. invented content (``invented_regions``, ``invented_area``): irregular feathered blobs painted over with
   plausible but wrong content, texture from a bundled donor image or a smooth sky-like gradient, colour-matched to
   their surroundings: the structure there does not match the target;
6. colour: per-channel gain and offset and a saturation change (``color_shift``);
7. hallucinated detail: band-pass noise texture and over-sharpening (``detail``);
8. another output resolution: a fixed ``output_size``, or a per-image factor drawn from ``output_scales``
   (real models answer at their native size), so that the prior also exercises the cache's alignment back to the
   input's size.

Effects 2, 3, 5 and the ``output_scales`` draw are off by default and use random streams of their own, so the
default output (and the cache keys of sets made before they existed) is unchanged. :data:`PRESETS` names three
sets of strengths: ``mild`` (the defaults), ``generative`` (calibrated so that
:func:`gpt4o_prior.realism.diagnose_prior` measures simulated priors as it measures real generative outputs, see
``benchmarks/bench_diagnose.py``) and ``harsh`` (clearly worse than real outputs).

Every call returns the image and a JSON-able record of exactly what was done, for the benchmark tables.

Example:
    >>> clean = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (32, 1, 3))
    >>> prior, rec = simulate_prior(clean, seed=0, max_shift_px=4)
    >>> prior.shape, rec["label"], 2.0 <= rec["shift_px"] <= 4.0
    ((32, 32, 3), 'simulated', True)
    >>> prior, rec = simulate_prior(clean, seed=0, preset="generative")
    >>> rec["preset"], rec["version"], "local_motion" in rec
    ('generative', 2, True)
"""
from __future__ import annotations

import functools
import hashlib
import math
from typing import Any, Mapping

import numpy as np

from ..data.filters import gaussian_blur
from ..data.io import as_rgb_uint8
from .base import OfflineProvider, check_image, register_provider

__all__ = ["simulate_prior", "warp_homography", "SimulatedProvider", "PRESETS", "preset_strengths"]

_VERSION = 2  # bump when the simulation's output changes: it is part of the cache key
#: a simulation that uses none of the effects added in version 2 makes the pixels version 1 made, so its record
#: and its provider's params keep version 1 (the keys of sets made before stay valid)
_BASE_VERSION = 1

#: the strengths of version 1, with their defaults (always in the params and the record's settings)
_BASE = {"max_shift_px": 4.0, "max_scale": 0.02, "max_aspect": 0.02, "max_rotation_deg": 1.0, "perspective": 0.02,
         "object_changes": 1, "color_shift": 0.06, "detail": 0.04}
#: the strengths added in version 2, with their defaults (all off; in the params only when not at the default)
_ADDED = {"local_motion_px": 0.0, "local_motion_range": 1.0, "invented_regions": 0, "invented_area": 0.0,
          "reframe_prob": 0.0, "output_scales": None}
_INTS = ("object_changes", "invented_regions")

#: Named strength sets. ``mild``: the defaults, a light controlled perturbation. ``generative``: calibrated with
#: ``benchmarks/bench_diagnose.py`` so that the realism diagnostic of simulated priors (registered share, output
#: size, residual motion, structure agreement, confidence) matches that of real generative restorations.
#: ``harsh``: clearly stronger than real outputs (more motion, more invented area, more reframing), for stress tests.
PRESETS: dict[str, dict[str, Any]] = {
    "mild": {**_BASE, **_ADDED},
    "generative": {
        "max_shift_px": 1.5, "max_scale": 0.005, "max_aspect": 0.006, "max_rotation_deg": 0.12, "perspective": 0.004,
        "object_changes": 0, "color_shift": 0.03, "detail": 0.03,
        "local_motion_px": 16.0, "local_motion_range": 3000.0, "invented_regions": 2, "invented_area": 0.25,
        "reframe_prob": 0.06,
        "output_scales": [[1.0, 0.71], [1.04, 0.03], [1.16, 0.03], [1.39, 0.03], [1.84, 0.03], [2.08, 0.085],
                          [4.5, 0.085]],
    },
    "harsh": {
        "max_shift_px": 6.0, "max_scale": 0.02, "max_aspect": 0.02, "max_rotation_deg": 1.0, "perspective": 0.02,
        "object_changes": 1, "color_shift": 0.06, "detail": 0.05,
        "local_motion_px": 12.0, "local_motion_range": 8.0, "invented_regions": 4, "invented_area": 0.5,
        "reframe_prob": 0.25,
        "output_scales": [[1.0, 0.5], [1.39, 0.1], [2.08, 0.2], [4.5, 0.2]],
    },
}


def _check_scales(value: Any, where: str) -> list[list[float]] | None:
    if value is None or (hasattr(value, "__len__") and len(value) == 0):  # () turns a preset's draw off
        return None
    try:
        pairs = [[float(f), float(p)] for f, p in value]
    except (TypeError, ValueError):
        raise ValueError(f"{where}output_scales must be None or a sequence of (factor, weight) pairs, "
                         f"got {value!r}") from None
    if not pairs or any(f <= 0 or p < 0 or not (math.isfinite(f) and math.isfinite(p)) for f, p in pairs) \
            or sum(p for _, p in pairs) <= 0:
        raise ValueError(f"{where}output_scales needs factors > 0 and weights >= 0 with a positive sum, "
                         f"got {value!r}")
    return pairs


def preset_strengths(preset: str | None = None, *, where: str = "", **overrides: Any) -> dict[str, Any]:
    """The strengths of a preset, with the explicit (not None) ``overrides`` put over them, checked.

    Args:
        preset: a name of :data:`PRESETS`, or None for ``"mild"`` (the defaults).
        where: prefix of error messages (the caller's name).
        **overrides: strengths of :func:`simulate_prior`; None keeps the preset's value.

    Returns:
        dict of every strength (``max_shift_px`` ... ``output_scales``), floats and ints, ``output_scales`` as
        a list of ``[factor, weight]`` lists or None.

    Raises:
        ValueError: unknown preset, unknown strength, or a value out of range.

    Example:
        >>> s = preset_strengths("generative", max_shift_px=0)
        >>> s["max_shift_px"], s["local_motion_px"] > 0
        (0.0, True)
        >>> preset_strengths("wild")
        Traceback (most recent call last):
        ...
        ValueError: unknown simulated preset 'wild'; known: mild, generative, harsh
    """
    name = "mild" if preset is None else preset
    if name not in PRESETS:
        raise ValueError(f"{where}unknown simulated preset {preset!r}; known: {', '.join(PRESETS)}")
    unknown = sorted(set(overrides) - set(PRESETS["mild"]))
    if unknown:
        raise ValueError(f"{where}unknown strength(s) {unknown}; known: {', '.join(PRESETS['mild'])}")
    merged = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
    out: dict[str, Any] = {}
    for k, v in merged.items():
        if k == "output_scales":
            out[k] = _check_scales(v, where)
            continue
        v = int(v) if k in _INTS else float(v)
        if not v >= 0:
            raise ValueError(f"{where}{k} must be >= 0, got {v}")
        out[k] = v
    if out["reframe_prob"] > 1:
        raise ValueError(f"{where}reframe_prob must be in [0, 1], got {out['reframe_prob']}")
    if out["invented_area"] >= 1:
        raise ValueError(f"{where}invented_area must be in [0, 1), got {out['invented_area']}")
    if out["local_motion_range"] < 1:
        raise ValueError(f"{where}local_motion_range must be >= 1 (the ratio of the largest to the smallest "
                         f"amplitude), got {out['local_motion_range']}")
    return out


def _added_on(strengths: Mapping[str, Any]) -> dict[str, Any]:
    """The version-2 strengths that are not at their default (the only ones that go into keys and records)."""
    return {k: strengths[k] for k, d in _ADDED.items() if strengths[k] != d}


def _stream(seed: int, tag: int) -> np.random.Generator:
    """An independent random stream of ``seed`` for one version-2 effect (the version-1 draws are untouched)."""
    return np.random.default_rng([int(seed), tag])


def _cv2():
    import cv2  # lazily, as in align.py

    return cv2


def _reflect(c: np.ndarray, n: int) -> np.ndarray:
    """Reflect coordinates into [0, n - 1] (mirror without repeating the edge)."""
    if n == 1:
        return np.zeros_like(c)
    period = 2 * (n - 1)
    c = np.mod(c, period)
    return np.where(c > n - 1, period - c, c)


def _sample_reflect(img: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Bilinear samples of a uint8 image at flat coordinates ``sx``, ``sy`` (reflected into it), as (H, W, 3)."""
    h, w = img.shape[:2]
    sx = _reflect(sx, w).reshape(h, w)
    sy = _reflect(sy, h).reshape(h, w)
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    f = img.astype(np.float64)
    out = (f[y0, x0] * (1 - fx) * (1 - fy) + f[y0, x1] * fx * (1 - fy)
           + f[y1, x0] * (1 - fx) * fy + f[y1, x1] * fx * fy)
    return out.round().clip(0, 255).astype(np.uint8)


def warp_homography(img: np.ndarray, matrix: np.ndarray, field: np.ndarray | None = None) -> np.ndarray:
    """Warp ``img`` by the 3x3 homography ``matrix`` (mapping input pixel coordinates (x, y, 1) to output ones).

    Bilinear sampling; pixels that map from outside the image are filled by reflection.

    Args:
        img: (H, W, 3) uint8 image.
        matrix: 3x3 array.
        field: optional (H, W, 2) displacement (dx, dy) in output pixels: output pixel p shows what the
            homography puts at p + field(p) (a local, non-rigid motion on top of the global one), or None.

    Returns:
        (H, W, 3) uint8 warped image.

    Example:
        >>> img = np.zeros((8, 8, 3), np.uint8); img[2, 3] = 255
        >>> shift = np.array([[1, 0, 2], [0, 1, 1], [0, 0, 1]], float)  # 2 px right, 1 px down
        >>> tuple(int(v) for v in np.argwhere(warp_homography(img, shift)[..., 0] == 255)[0])
        (3, 5)
        >>> back = np.zeros((8, 8, 2)); back[..., 0] = 2  # and 2 px left again, by the field
        >>> tuple(int(v) for v in np.argwhere(warp_homography(img, shift, back)[..., 0] == 255)[0])
        (3, 3)
    """
    img = as_rgb_uint8(img, "img")
    h, w = img.shape[:2]
    inv = np.linalg.inv(np.asarray(matrix, dtype=np.float64))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    if field is not None:
        field = np.asarray(field, dtype=np.float64)
        if field.shape != (h, w, 2):
            raise ValueError(f"warp_homography: field must be (H, W, 2) = {(h, w, 2)}, got {field.shape}")
        xs, ys = xs + field[..., 0], ys + field[..., 1]
    pts = inv @ np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)])
    return _sample_reflect(img, pts[0] / pts[2], pts[1] / pts[2])


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



def _about_centre(h: int, w: int, linear: np.ndarray, shift_xy: tuple[float, float]) -> np.ndarray:
    cx, cy = (w - 1) / 2, (h - 1) / 2
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], float)
    back = np.array([[1, 0, cx + shift_xy[0]], [0, 1, cy + shift_xy[1]], [0, 0, 1]], float)
    return back @ linear @ to_centre


def _reframe(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, dict]:
    """A strong global change: zoom, changed proportions resized back, moved camera."""
    scale = rng.uniform(0.85, 1.15)
    aspect = math.exp(rng.uniform(math.log(0.8), math.log(1.2)))
    angle = rng.uniform(0, 2 * math.pi)
    shift = rng.uniform(0.0, 0.05) * math.hypot(h, w)
    dx, dy = shift * math.cos(angle), shift * math.sin(angle)
    m = _about_centre(h, w, np.diag([scale * math.sqrt(aspect), scale / math.sqrt(aspect), 1.0]), (dx, dy))
    return m, {"scale": float(scale), "aspect": float(aspect), "shift_frac": float(shift / math.hypot(h, w)),
               "shift_xy": [float(dx), float(dy)], "homography": m.round(8).tolist()}


#: how unevenly the local motion spreads over the image: the field is modulated by exp(tail * z), z a smooth
#: standardised random map, so a few regions move much more than the rest (as redrawn objects do)
_MOTION_TAIL = 1.0


def _motion_field(rng: np.random.Generator, h: int, w: int, max_px: float, spread: float
                  ) -> tuple[np.ndarray, dict]:
    """A smooth random (H, W, 2) displacement field whose median length is an amplitude drawn log-uniformly in
    [``max_px / spread``, ``max_px``]: random control points upsampled bicubically, modulated by a smooth
    envelope."""
    cv2 = _cv2()
    amplitude = max_px * math.exp(-rng.uniform(0.0, 1.0) * math.log(spread))
    n = int(rng.integers(4, 11))  # control points along the longer side
    gh, gw = (n, max(2, round(n * w / h))) if h >= w else (max(2, round(n * h / w)), n)
    ctrl = rng.normal(size=(gh, gw, 2)).astype(np.float32)
    env = rng.normal(size=(2 * gh, 2 * gw)).astype(np.float32)
    field = cv2.resize(ctrl, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    z = cv2.resize(env, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    z = (z - z.mean()) / max(float(z.std()), 1e-9)
    field *= np.exp(_MOTION_TAIL * z)[..., None]
    length = np.hypot(field[..., 0], field[..., 1])
    factor = amplitude / max(float(np.median(length)), 1e-9)
    field *= factor
    length *= factor
    return field, {"amplitude_px": float(amplitude), "grid": [gh, gw],
                   "median_px": float(np.median(length)), "p90_px": float(np.percentile(length, 90)),
                   "max_px": float(length.max())}


@functools.lru_cache(maxsize=64)
def _donor(path: str) -> np.ndarray:
    from ..data.io import read_rgb

    d = read_rgb(path).astype(np.float32) / 255.0
    d.setflags(write=False)
    return d


def _donor_texture(rng: np.random.Generator, bh: int, bw: int) -> tuple[np.ndarray, str]:
    """A (bh, bw, 3) float texture from a bundled image picked by ``rng``: turned, flipped, zoomed, mirror-tiled."""
    from ..data.bundled import bundled_images

    cv2 = _cv2()
    paths = bundled_images("all")
    path = paths[int(rng.integers(len(paths)))]
    d = np.rot90(_donor(str(path)), int(rng.integers(4)))
    if rng.random() < 0.5:
        d = d[:, ::-1]
    zoom = math.exp(rng.uniform(math.log(0.8), math.log(2.0)))
    d = cv2.resize(np.ascontiguousarray(d), (max(2, round(d.shape[1] * zoom)), max(2, round(d.shape[0] * zoom))),
                   interpolation=cv2.INTER_CUBIC)
    oy, ox = int(rng.integers(d.shape[0])), int(rng.integers(d.shape[1]))
    tiled = np.pad(d, ((0, oy + bh), (0, ox + bw), (0, 0)), mode="symmetric")[oy:oy + bh, ox:ox + bw]
    return tiled.astype(np.float64), path.stem


def _invented(x: np.ndarray, rng: np.random.Generator, count: int, max_area: float) -> tuple[np.ndarray, dict]:
    """Paint ``count`` irregular feathered blobs (together at most ``max_area`` of the image) with plausible but
    wrong content: a donor texture or a smooth gradient, matched to the mean and spread of their surroundings."""
    cv2 = _cv2()
    h, w = x.shape[:2]
    total = max_area * rng.uniform() ** 2  # most images get little, a few much
    shares = rng.dirichlet(np.ones(count)) * total
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    k = np.arange(2, 6)
    masks, regions = [], []
    for share in shares:
        amps = rng.uniform(0.0, 0.5, k.size) / k  # wobbly outline: low harmonics of the radius
        phases = rng.uniform(0, 2 * math.pi, k.size)
        r0 = math.sqrt(share * h * w / math.pi / (1 + 0.5 * float((amps ** 2).sum())))  # area = share
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        theta, rho = np.arctan2(ys - cy, xs - cx), np.hypot(xs - cx, ys - cy)
        radius = r0 * (1 + sum(a * np.cos(kk * theta + p) for a, kk, p in zip(amps, k, phases)))
        hard = (rho < radius).astype(np.float32)
        soft = cv2.GaussianBlur(hard, (0, 0), max(1.0, 0.15 * r0), borderType=cv2.BORDER_REFLECT)
        masks.append((hard, soft.astype(np.float64)))
        regions.append({"centre_xy": [round(cx, 2), round(cy, 2)], "radius_px": round(r0, 2)})
    union = np.zeros((h, w))
    for _, soft in masks:
        union = np.maximum(union, soft)
    area = float(union.mean())
    damp = min(1.0, max_area / area) if area > 0 else 1.0  # the bound holds whatever the discretisation did
    out = x.copy()
    for (hard, soft), reg in zip(masks, regions):
        soft = soft * damp
        on = np.argwhere(soft > 1e-3)
        if on.size == 0:
            reg.update(fill=None, donor=None)
            continue
        (y0, x0), (y1, x1) = on.min(0), on.max(0) + 1
        ring = cv2.GaussianBlur(hard, (0, 0), max(2.0, 0.6 * reg["radius_px"]),
                                borderType=cv2.BORDER_REFLECT) * (1.0 - hard)
        if ring.sum() < 1e-6:
            ring = np.ones_like(ring)
        wts = ring[..., None] / ring.sum()
        mu = (x * wts).sum((0, 1))
        sd = np.sqrt((((x - mu) ** 2) * wts).sum((0, 1)))
        bh, bw = y1 - y0, x1 - x0
        if rng.random() < 0.65:
            tex, donor = _donor_texture(rng, bh, bw)
            tex = (tex - tex.mean((0, 1))) / np.maximum(tex.std((0, 1)), 1e-3)
            content = mu + tex * np.maximum(sd, 0.05) * rng.uniform(0.7, 1.2)
            reg.update(fill="texture", donor=donor)
        else:  # sky-like: a mostly vertical gradient with a faint low-frequency wash
            phi = math.pi / 2 + rng.uniform(-0.5, 0.5)
            t = (((xs[y0:y1, x0:x1] - reg["centre_xy"][0]) * math.cos(phi)
                  + (ys[y0:y1, x0:x1] - reg["centre_xy"][1]) * math.sin(phi)) / max(1.5 * reg["radius_px"], 1.0))
            delta = rng.normal(0.0, 0.3, 3) * sd + rng.choice([-1.0, 1.0]) * rng.uniform(0.03, 0.1)
            wash = cv2.resize(rng.normal(0.0, 0.015, (4, 4)).astype(np.float32), (bw, bh),
                              interpolation=cv2.INTER_CUBIC).astype(np.float64)
            content = mu + np.clip(t, -1, 1)[..., None] * delta + wash[..., None]
            reg.update(fill="smooth", donor=None)
        m = soft[y0:y1, x0:x1, None]
        out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - m) + content * m
    return out, {"area_fraction": round(area * damp, 6), "regions": regions}


_UNSET: Any = None  # an explicit strength left at None takes the preset's value


def simulate_prior(target: np.ndarray, *, seed: int = 0, preset: str | None = None,
                   max_shift_px: float | None = _UNSET, max_scale: float | None = _UNSET,
                   max_aspect: float | None = _UNSET, max_rotation_deg: float | None = _UNSET,
                   perspective: float | None = _UNSET, object_changes: int | None = _UNSET,
                   color_shift: float | None = _UNSET, detail: float | None = _UNSET,
                   local_motion_px: float | None = _UNSET, local_motion_range: float | None = _UNSET,
                   invented_regions: int | None = _UNSET, invented_area: float | None = _UNSET,
                   reframe_prob: float | None = _UNSET, output_scales: Any = _UNSET,
                   output_size: tuple[int, int] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Make a GPT-like, not pixel-faithful version of a clean image.

    All strengths are upper bounds of seeded random draws; 0 turns an effect off (all zeros returns ``target``
    unchanged). The translation is the exception: its length is drawn in [``max_shift_px / 2``,
    ``max_shift_px``] (random direction), so a sweep over ``max_shift_px`` (0, 4, 16, 32) really moves the prior.
    A strength left at None takes the value of ``preset`` (``mild``, the defaults listed here, when None).

    Args:
        target: clean (H, W, 3) uint8 RGB image (ground truth).
        seed: seed of all random draws.
        preset: a name of :data:`PRESETS` giving the strengths not passed explicitly, or None (``mild``).
        max_shift_px: translation length bound, pixels (mild: 4).
        max_scale: relative zoom bound (mild: 0.02, up to 2 % in or out).
        max_aspect: bound of the relative change of proportions (width stretched, height squeezed, or back; 0.02).
        max_rotation_deg: rotation bound, degrees (1).
        perspective: perspective tilt bound (relative change of scale across the frame; 0.02).
        object_changes: number of patches replaced by a copy from elsewhere (1).
        color_shift: bound of the per-channel gain / offset and saturation change (fraction of full scale; 0.06).
        detail: amplitude of the invented high-frequency texture and of the over-sharpening (0.04).
        local_motion_px: largest median length (pixels of the target) of the smooth local displacement field
            (0: off).
        local_motion_range: ratio of the largest to the smallest amplitude: each image's amplitude is drawn
            log-uniformly in [``local_motion_px / local_motion_range``, ``local_motion_px``] (1: always the largest).
        invented_regions: number of blobs of invented content (0: off).
        invented_area: bound of their total area, as a fraction of the image (each image draws ``u ** 2`` of it, u uniform in [0, 1)).
        reframe_prob: probability of a reframing (zoom 0.85-1.15, proportions 0.8-1.2, shift up to 5 % of the
            diagonal) on top of the geometry above.
        output_scales: None, or ``(factor, weight)`` pairs: the prior is resized by a factor drawn with these
            weights (aspect kept; 1.0 keeps the size); ``()`` turns off a preset's draw. Ignored when
            ``output_size`` is given.
        output_size: ``(W, H)`` of the returned prior (bicubic resize at the end), or None for the target's size.

    Returns:
        ``(prior, record)``: the (H', W', 3) uint8 prior and a JSON-able dict (``label: "simulated"``, ``version``,
        the seed, the settings and every value drawn: shift, homography, patches, colour gains, ...; with the
        version-2 effects on also ``preset`` and ``reframe``, ``local_motion``, ``invented`` (its
        ``area_fraction``), ``output_scale``).

    Shape:
        target (H, W, 3) -> prior (H, W, 3), or the size of ``output_size`` / the drawn output scale.

    Example:
        >>> img = np.full((16, 16, 3), 100, np.uint8)
        >>> off = dict(max_shift_px=0, max_scale=0, max_aspect=0, max_rotation_deg=0, perspective=0,
        ...            object_changes=0, color_shift=0, detail=0)
        >>> bool((simulate_prior(img, **off)[0] == img).all())
        True
        >>> simulate_prior(img, **off, output_scales=[(2.0, 1.0)])[0].shape
        (32, 32, 3)
    """
    target = as_rgb_uint8(target, "target")
    strengths = preset_strengths(preset, max_shift_px=max_shift_px, max_scale=max_scale, max_aspect=max_aspect,
                                 max_rotation_deg=max_rotation_deg, perspective=perspective,
                                 object_changes=object_changes, color_shift=color_shift, detail=detail,
                                 local_motion_px=local_motion_px, local_motion_range=local_motion_range,
                                 invented_regions=invented_regions, invented_area=invented_area,
                                 reframe_prob=reframe_prob, output_scales=output_scales)
    if output_size is not None:
        if len(output_size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in output_size):
            raise ValueError(f"output_size must be (W, H) positive integers or None, got {output_size!r}")
        output_size = (int(output_size[0]), int(output_size[1]))
    s = strengths
    added = _added_on(s)
    h, w = target.shape[:2]
    rng = np.random.default_rng(seed)
    settings = {**{k: s[k] for k in _BASE}, "output_size": list(output_size) if output_size is not None else None,
                **added}
    record: dict[str, Any] = {"label": "simulated", "version": _VERSION if added else _BASE_VERSION,
                              "seed": int(seed), "settings": settings}
    if preset is not None:
        record["preset"] = preset

    m, record["geometry"] = _geometry(rng, h, w, s["max_shift_px"], s["max_scale"], s["max_rotation_deg"],
                                      s["perspective"], s["max_aspect"])
    if s["reframe_prob"] > 0:
        r_rng = _stream(seed, 1)
        if r_rng.random() < s["reframe_prob"]:
            r, record["reframe"] = _reframe(r_rng, h, w)
            record["reframe"]["applied"] = True
            m = r @ m
            m = m / m[2, 2]
        else:
            record["reframe"] = {"applied": False}
    field = None
    if s["local_motion_px"] > 0:
        field, record["local_motion"] = _motion_field(_stream(seed, 2), h, w, s["local_motion_px"],
                                                      s["local_motion_range"])
    if field is not None:
        out = warp_homography(target, m, field)
    else:
        out = warp_homography(target, m) if not np.allclose(m, np.eye(3)) else target.copy()
    x = out.astype(np.float64) / 255.0

    x, record["object_changes"] = _object_changes(x, rng, s["object_changes"])

    if s["invented_regions"] > 0 and s["invented_area"] > 0:
        x, record["invented"] = _invented(x, _stream(seed, 3), s["invented_regions"], s["invented_area"])
    elif "invented_regions" in added or "invented_area" in added:
        record["invented"] = {"area_fraction": 0.0, "regions": []}

    color_shift, detail = s["color_shift"], s["detail"]
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
    size = output_size
    if size is None and s["output_scales"] is not None:
        factors = [f for f, _ in s["output_scales"]]
        weights = np.array([p for _, p in s["output_scales"]], dtype=np.float64)
        factor = factors[int(_stream(seed, 4).choice(len(factors), p=weights / weights.sum()))]
        record["output_scale"] = factor
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
    if size is not None and size != (w, h):
        from PIL import Image

        prior = np.asarray(Image.fromarray(prior).resize(size, Image.BICUBIC))
    record["shift_px"] = record["geometry"]["shift_px"]
    return prior, record


@register_provider
class SimulatedProvider(OfflineProvider):
    """Offline provider of simulated GPT-like priors (label ``simulated``): needs the clean target.

    Each image gets its own seed, derived from ``seed`` and the target's content, so a dataset's priors are
    reproducible and differ from image to image. The prior depends on the target, so the cache key holds the
    target's pixel hash too (:attr:`uses_target`).

    Args:
        seed: base seed.
        register: pass each simulated prior through :func:`gpt4o_prior.align.align_with_confidence` against its
            input before it is stored, as ``gpt4o-prior generate`` / ``import`` do with GPT-image outputs by
            default (the alignment's record goes into the entry's record under ``alignment``; the cache keeps the
            unregistered simulation as the raw output and the registered one as the prior, with the dense step's
            confidence). False (the default) stores the misaligned simulation as it is: what an ablation of
            misalignment needs.
        dense: with ``register``, also run the dense step (flow + confidence); False: global registration only.
        preset: a name of :data:`PRESETS` (``"mild"``, ``"generative"``, ``"harsh"``) giving every strength not
            passed explicitly.
        output_size: ``(W, H)`` of every prior, or None.
        **strengths: keyword arguments of :func:`simulate_prior` (``max_shift_px=16``, ``detail=0``, ...); they
            override the preset's values.

    Example:
        >>> p = SimulatedProvider(max_shift_px=16)
        >>> p.label, p.params()["max_shift_px"]
        ('simulated', 16.0)
        >>> SimulatedProvider(preset="generative").params()["local_motion_px"] > 0
        True
        >>> p.make(np.zeros((8, 8, 3), np.uint8))
        Traceback (most recent call last):
        ...
        ValueError: SimulatedProvider.make needs target=: simulated priors are made from the clean ground truth ...
    """

    name = "simulated"
    label = "simulated"
    uses_target = True

    def __init__(self, *, seed: int = 0, register: bool = False, dense: bool = True, preset: str = "mild",
                 max_shift_px: float | None = None, max_scale: float | None = None, max_aspect: float | None = None,
                 max_rotation_deg: float | None = None, perspective: float | None = None,
                 object_changes: int | None = None, color_shift: float | None = None, detail: float | None = None,
                 local_motion_px: float | None = None, local_motion_range: float | None = None,
                 invented_regions: int | None = None, invented_area: float | None = None,
                 reframe_prob: float | None = None, output_scales: Any = None,
                 output_size: tuple[int, int] | None = None):
        self.seed = int(seed)
        self.register = bool(register)
        self.dense = bool(dense)
        self.preset = preset
        self.strengths = preset_strengths(
            preset, where="SimulatedProvider: ", max_shift_px=max_shift_px, max_scale=max_scale,
            max_aspect=max_aspect, max_rotation_deg=max_rotation_deg, perspective=perspective,
            object_changes=object_changes, color_shift=color_shift, detail=detail, local_motion_px=local_motion_px,
            local_motion_range=local_motion_range, invented_regions=invented_regions, invented_area=invented_area,
            reframe_prob=reframe_prob, output_scales=output_scales)
        self.output_size = None if output_size is None else [int(v) for v in output_size]
        self.last_record: dict[str, Any] | None = None
        #: with ``register``: the last simulation before registration (the cache keeps it as the raw output,
        #: as it keeps a GPT answer as returned); None otherwise.
        self.last_unregistered: np.ndarray | None = None
        #: with ``register`` and ``dense``: the (H, W) float32 confidence of the last registration's dense step,
        #: which the cache stores beside the prior (``providers.base._make_and_store``); None otherwise.
        self.last_confidence: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        """Every setting that changes the output (part of the cache key).

        The version-2 strengths appear only when not at their default, and only then is the version 2: the
        params of a ``mild`` provider are those of the version before them, so its sets keep their keys.
        """
        added = _added_on(self.strengths)
        params = {"version": _VERSION if added else _BASE_VERSION, "seed": self.seed,
                  **{k: self.strengths[k] for k in _BASE}, "output_size": self.output_size, **added}
        if self.register:  # only when on, so the keys of unregistered sets stay as they were
            from ..dense_align import DENSE_VERSION  # and the dense step's version when it runs (its own key)
            params["register"] = "align_prior(affine)" + (f"+dense(v{DENSE_VERSION})" if self.dense else "")
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
        preset = None if self.preset == "mild" else self.preset  # mild records stay as they were
        prior, record = simulate_prior(target, seed=self.image_seed(target), preset=preset, **self.strengths,
                                       output_size=None if self.output_size is None else tuple(self.output_size))
        self.last_unregistered = None
        self.last_confidence = None
        if self.register:
            from ..align import align_with_confidence

            self.last_unregistered = prior
            prior, conf, record["alignment"] = align_with_confidence(prior, image, dense=self.dense)
            self.last_confidence = conf if self.dense else None
        self.last_record = record
        return prior, record

    def make(self, image: np.ndarray, *, target: np.ndarray | None = None) -> np.ndarray:
        """The simulated prior of ``image``, made from its clean ``target`` (required)."""
        return self.make_with_record(image, target=target)[0]
