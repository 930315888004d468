"""How far a prior is from its input: the realism diagnostic of a (prior, input) pair.

Real generative restorations differ from their inputs in ways a benchmark must reproduce before it can claim that a
prior helps: another resolution, a reframed view, local motion, invented content, a colour and brightness change.
:func:`diagnose_prior` measures each of these with the same machinery the cache aligns with, so real pairs
(``benchmarks/bench_diagnose.py`` over ``../shared/generative_outputs``) and simulated ones can be compared figure
by figure:

- ``size_ratio``: the prior's height and width over the input's (a 1024-pixel answer to a 512-pixel input: 2.0);
- the global transform found by registration (:func:`gpt4o_prior.align.align_prior`): ``scale``, ``aspect``
  (vertical over horizontal scale), ``rotation_deg``, ``shift_frac`` (centre displacement over the diagonal) and
  ``registered`` (accepted or not; a rejected estimate is still reported, flagged);
- the dense residual motion after it (:func:`gpt4o_prior.dense_align.dense_align`): ``motion_median_px`` and
  ``motion_p90_px``, in pixels of the input, over the pixels where the forward and backward flows agree;
- ``agree_fraction``: the share of the image whose confidence is at least 0.5 (the content agrees), and
  ``confidence_mean``;
- ``brightness_shift`` (mean luma of the aligned prior minus the input's, in [-1, 1]), ``contrast_ratio`` (their
  luma standard deviations), ``colour_shift`` (distance of the mean chroma in CIE Lab a*b*, in Lab units) and
  ``saturation_ratio``.

Example:
    >>> import numpy as np
    >>> from gpt4o_prior.data.filters import gaussian_blur
    >>> rng = np.random.default_rng(0)
    >>> scene = (gaussian_blur(rng.random((96, 96, 3)), 1.5) * 255).astype(np.uint8)
    >>> d = diagnose_prior(np.roll(scene, 3, axis=1), scene)
    >>> d["size_ratio"], d["registered"], d["agree_fraction"] > 0.8
    ([1.0, 1.0], True, True)
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["diagnose_prior", "FIGURES", "summarize_diagnoses"]

#: The numeric figures of a diagnosis, in table order.
FIGURES = ("size_ratio_h", "size_ratio_w", "scale", "aspect", "rotation_deg", "shift_frac", "motion_median_px",
           "motion_p90_px", "agree_fraction", "confidence_mean", "brightness_shift", "contrast_ratio",
           "colour_shift", "saturation_ratio")


def _decompose(m: np.ndarray, hw: tuple[int, int]) -> dict[str, float]:
    """Scale, aspect, rotation and centre shift (fraction of the diagonal) of an input -> prior matrix."""
    a = m[:2, :2] / m[2, 2]
    sx, sy = float(np.hypot(a[0, 0], a[1, 0])), float(np.hypot(a[0, 1], a[1, 1]))
    rot = math.degrees(math.atan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1]))
    c = np.array([(hw[1] - 1) / 2.0, (hw[0] - 1) / 2.0, 1.0])
    p = m @ c
    shift = float(np.hypot(*(p[:2] / p[2] - c[:2])))
    return {"scale": math.sqrt(abs(sx * sy)), "aspect": sy / max(sx, 1e-9), "rotation_deg": rot,
            "shift_frac": shift / math.hypot(*hw)}


def _colour(cv2, prior: np.ndarray, input: np.ndarray) -> dict[str, float]:
    lab_p = cv2.cvtColor(prior, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_i = cv2.cvtColor(input, cv2.COLOR_RGB2LAB).astype(np.float32)
    # OpenCV's 8-bit Lab: L in [0, 255] for [0, 100], a and b offset by 128
    lp, li = lab_p[..., 0] / 255.0, lab_i[..., 0] / 255.0
    ab_p, ab_i = lab_p[..., 1:] - 128.0, lab_i[..., 1:] - 128.0
    chroma_p, chroma_i = np.hypot(ab_p[..., 0], ab_p[..., 1]), np.hypot(ab_i[..., 0], ab_i[..., 1])
    return {"brightness_shift": float(lp.mean() - li.mean()),
            "contrast_ratio": float(lp.std() / max(li.std(), 1e-3)),
            "colour_shift": float(np.hypot(*(ab_p.reshape(-1, 2).mean(0) - ab_i.reshape(-1, 2).mean(0)))),
            "saturation_ratio": float(chroma_p.mean() / max(chroma_i.mean(), 0.5))}


def diagnose_prior(prior: np.ndarray, input: np.ndarray, *, record: Mapping[str, Any] | None = None,
                   motion: str = "affine", dense_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Measure how a prior differs from its input (size, global transform, residual motion, agreement, colour).

    Args:
        prior: the prior as the model returned it, (H', W', 3) uint8 RGB, any size.
        input: the image it was made from, (H, W, 3) uint8 RGB.
        record: the send-time fit record (:func:`gpt4o_prior.fit.fit_to_size`) when the input was fitted to an
            API size before sending, else None (the prior is taken to cover the input's field of view).
        motion: the registration's motion model.
        dense_options: keyword arguments of :func:`gpt4o_prior.dense_align.dense_align`.

    Returns:
        A JSON-able dict with every name of :data:`FIGURES` (floats), ``size_ratio`` [h, w], ``registered``
        (bool), ``reason`` (why registration was rejected, or None), ``global_from`` (``"accepted"``,
        ``"rejected estimate"`` or ``"none"``), ``quality_before`` / ``quality`` (structure correlation before and
        after registration) and ``time_ms``.

    Example:
        >>> img = np.full((32, 48, 3), 90, np.uint8)
        >>> diagnose_prior(np.full((64, 96, 3), 120, np.uint8), img)["size_ratio"]
        [2.0, 2.0]
    """
    import cv2

    from .align import align_prior
    from .data.io import as_rgb_uint8
    from .dense_align import dense_align

    prior = as_rgb_uint8(prior, "prior")
    input = as_rgb_uint8(input, "input")
    h, w = input.shape[:2]
    base, info = align_prior(prior, input, record=dict(record) if record is not None else None, motion=motion)
    if info["registered"]:
        g, source = _decompose(np.asarray(info["matrix"], np.float64), (h, w)), "accepted"
    elif "rejected_matrix" in info:
        g, source = _decompose(np.asarray(info["rejected_matrix"], np.float64), (h, w)), "rejected estimate"
    else:
        g, source = {"scale": 1.0, "aspect": 1.0, "rotation_deg": 0.0, "shift_frac": 0.0}, "none"
    aligned, confidence, dense = dense_align(base, input, **dict(dense_options or {}))
    out: dict[str, Any] = {
        "size_ratio": [round(prior.shape[0] / h, 4), round(prior.shape[1] / w, 4)],
        "size_ratio_h": prior.shape[0] / h, "size_ratio_w": prior.shape[1] / w,
        **g,
        "registered": bool(info["registered"]), "reason": info["reason"] if not info["registered"] else None,
        "global_from": source, "quality_before": info["quality_before"], "quality": info["quality"],
        "motion_median_px": dense.get("motion_median_px", 0.0), "motion_p90_px": dense.get("motion_p90_px", 0.0),
        "agree_fraction": float((confidence >= 0.5).mean()), "confidence_mean": float(confidence.mean()),
        **_colour(cv2, aligned, input),
        "time_ms": round(info["time_ms"] + dense["time_ms"], 2),
    }
    for k in FIGURES:
        out[k] = round(float(out[k]), 4)
    return out


def summarize_diagnoses(rows: Iterable[Mapping[str, Any]], figures: Sequence[str] = FIGURES) -> dict[str, dict]:
    """Median and spread (10th and 90th percentiles) of each figure over many diagnoses, plus the share of pairs
    whose global registration was accepted.

    Returns:
        ``{figure: {"median", "p10", "p90"}}`` and ``"registered": {"share", "n"}``.

    Example:
        >>> s = summarize_diagnoses([{"scale": 1.0, "registered": True}, {"scale": 1.2, "registered": False}],
        ...                         figures=["scale"])
        >>> s["scale"]["median"], s["registered"]["share"]
        (1.1, 0.5)
    """
    rows = list(rows)
    if not rows:
        raise ValueError("summarize_diagnoses: no diagnoses given")
    out: dict[str, dict] = {}
    for k in figures:
        v = np.array([float(r[k]) for r in rows])
        out[k] = {"median": round(float(np.median(v)), 4), "p10": round(float(np.percentile(v, 10)), 4),
                  "p90": round(float(np.percentile(v, 90)), 4)}
    out["registered"] = {"share": round(sum(bool(r["registered"]) for r in rows) / len(rows), 4), "n": len(rows)}
    return out
