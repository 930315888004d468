"""Bring a generative prior back to its input's geometry: undo the send-time fit, then register.

The fit (the size a provider sends, and how the input was fitted to it) is :mod:`gpt4o_prior.fit`'s; its names are
importable from here too. The model also shifts, rescales and re-frames content a little, so :func:`align_prior`
registers the prior to the input after :func:`~gpt4o_prior.fit.undo_fit` (a global similarity, affine or
homography, found by phase correlation over a scale search and refined with ECC on local-contrast-normalised
structure maps, which survive haze, rain and darkness) and keeps that registration only when it is trustworthy;
otherwise it falls back to the undone fit alone. Both steps are recorded (JSON-able) for the cache sidecar.
:func:`align_with_confidence` adds the dense step and its confidence map (:mod:`gpt4o_prior.dense_align`).

Registration matrices map input pixel centres to pixel centres of the undone prior.

OpenCV (``cv2``) is imported lazily, only by registration; without it :func:`align_prior` falls back to the undone
fit and says so in its record.

Example:
    >>> import numpy as np
    >>> img = np.zeros((30, 40, 3), np.uint8)
    >>> sent, rec = fit_to_size(img, (64, 64), mode="pad")
    >>> aligned, info = align_prior(sent, img, record=rec)
    >>> aligned.shape, info["undo"]
    ((30, 40, 3), 'fit')
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .data.io import as_rgb_uint8

# the fitting step lives in gpt4o_prior.fit; its names stay importable from here
from .fit import (API_SIZES, FIT_MODES, RECORD_VERSION, check_fit_record, choose_size, fit_matrix, fit_to_size,
                  resize_rgb, undo_fit)

__all__ = ["fit_to_size", "undo_fit", "align_prior", "align_with_confidence", "choose_size", "fit_matrix", "API_SIZES",
           "FIT_MODES", "MOTIONS", "structure_map"]

MOTIONS = ("translation", "similarity", "affine", "homography")


# ---------------------------------------------------------------------------------------------- registration
def _cv2():
    import cv2  # lazily: OpenCV is needed only for registration

    return cv2


def structure_map(image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
    """Local-contrast-normalised grey image: what survives haze (local affine intensity change), darkness
    (gain and gamma) and colour changes; the input of registration.

    Args:
        image: (H, W, 3) uint8 RGB.
        sigma: Gaussian scale of the local normalisation (default ``max(2, min(H, W) / 32)``).

    Returns:
        (H, W) float32, roughly zero mean and unit local variance, clipped to [-3, 3].

    Example:
        >>> structure_map(np.zeros((16, 16, 3), np.uint8)).shape
        (16, 16)
    """
    cv2 = _cv2()
    image = as_rgb_uint8(image, "image")
    g = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    g = cv2.GaussianBlur(g, (0, 0), 1.0)
    lo, hi = np.percentile(g, (1, 99))
    g = (g - lo) / max(hi - lo, 1e-3)
    s = sigma if sigma is not None else max(2.0, min(g.shape) / 32.0)
    mu = cv2.GaussianBlur(g, (0, 0), s)
    var = np.maximum(cv2.GaussianBlur(g * g, (0, 0), s) - mu * mu, 0.0)
    n = (g - mu) / (np.sqrt(var) + 0.03)
    return np.clip(n, -3.0, 3.0).astype(np.float32)


def _ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    m = mask.astype(bool)
    if m.sum() < 16:
        return -1.0
    x, y = a[m].astype(np.float64), b[m].astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    d = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / d) if d > 0 else 0.0


def _warp(cv2, img: np.ndarray, m: np.ndarray, size_wh: tuple[int, int], *, border, interp=None) -> np.ndarray:
    flags = (cv2.INTER_LINEAR if interp is None else interp) | cv2.WARP_INVERSE_MAP
    if np.allclose(m[2], [0, 0, 1]):
        return cv2.warpAffine(img, m[:2].astype(np.float64), size_wh, flags=flags, borderMode=border)
    return cv2.warpPerspective(img, m.astype(np.float64), size_wh, flags=flags, borderMode=border)


def _valid_mask(cv2, m: np.ndarray, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    ones = np.ones(src_hw, np.uint8)
    return _warp(cv2, ones, m, (dst_hw[1], dst_hw[0]), border=cv2.BORDER_CONSTANT, interp=cv2.INTER_NEAREST)


def _scale_about_center(s: float, hw: tuple[int, int]) -> np.ndarray:
    cy, cx = (hw[0] - 1) / 2.0, (hw[1] - 1) / 2.0
    return np.array([[s, 0, cx - s * cx], [0, s, cy - s * cy], [0, 0, 1.0]])


def _coarse(cv2, s_in: np.ndarray, s_pr: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, float]:
    """Best scale-about-centre + translation by phase correlation over a scale grid; returns (3x3, response)."""
    hw = s_in.shape
    window = cv2.createHanningWindow((hw[1], hw[0]), cv2.CV_32F)
    best, best_r = np.eye(3), -1.0
    for s in scales:
        m = _scale_about_center(float(s), hw)
        cand = _warp(cv2, s_pr, m, (hw[1], hw[0]), border=cv2.BORDER_REFLECT)
        (dx, dy), r = cv2.phaseCorrelate(s_in.astype(np.float64), cand.astype(np.float64), window.astype(np.float64))
        if r > best_r:
            t = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])
            best, best_r = m @ t, float(r)
    return best, best_r


def _coarse_guess(cv2, s_in: np.ndarray, s_pr: np.ndarray, scales: np.ndarray, *, min_side: int = 48
                  ) -> np.ndarray:
    """The starting point of ECC: :func:`_coarse` on half-resolution structure maps (4x less work for its 13
    phase correlations), mapped back to the work grid; ECC then refines it at the work resolution, so the final
    accuracy is ECC's. Maps whose shorter side would fall under ``min_side`` are searched as they are."""
    if min(s_in.shape) // 2 < min_side:
        return _coarse(cv2, s_in, s_pr, scales)[0]
    half, hw2 = _work_scale(s_in.shape, max(s_in.shape) // 2)
    size = (hw2[1], hw2[0])
    c_in = cv2.resize(s_in, size, interpolation=cv2.INTER_AREA)
    c_pr = cv2.resize(s_pr, size, interpolation=cv2.INTER_AREA)
    m_half, _ = _coarse(cv2, c_in, c_pr, scales)
    return np.linalg.inv(half) @ m_half @ half


def _project_similarity(m: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """Nearest similarity to an affine ``m``, taken in the frame where the provider's image was square-pixelled:
    with a stretched fit (``aspect`` = y scale / x scale of the send transform), a similarity in the sent image
    is ``K^-1 S K`` here, ``K = diag(1, aspect)``."""
    k = np.diag([1.0, aspect, 1.0])
    mk = k @ m @ np.linalg.inv(k)
    a = (mk[0, 0] + mk[1, 1]) / 2.0
    b = (mk[1, 0] - mk[0, 1]) / 2.0
    sim = np.array([[a, -b, mk[0, 2]], [b, a, mk[1, 2]], [0, 0, 1.0]])
    return np.linalg.inv(k) @ sim @ k


def _ecc(cv2, s_in: np.ndarray, s_pr: np.ndarray, m0: np.ndarray, motion: str, iters: int,
         aspect: float = 1.0) -> tuple[np.ndarray, float]:
    kind = {"translation": cv2.MOTION_TRANSLATION, "similarity": cv2.MOTION_AFFINE, "affine": cv2.MOTION_AFFINE,
            "homography": cv2.MOTION_HOMOGRAPHY}[motion]
    warp = (m0 if motion == "homography" else m0[:2]).astype(np.float32)
    if motion == "translation":
        warp = np.array([[1, 0, m0[0, 2]], [0, 1, m0[1, 2]]], np.float32)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, iters, 1e-5)
    rho, warp = cv2.findTransformECC(s_in, s_pr, warp, kind, criteria, None, 3)
    out = np.eye(3)
    out[: warp.shape[0]] = warp
    if motion == "similarity":
        out = _project_similarity(out, aspect)
    return out, float(rho)


def _distortion(m: np.ndarray, hw: tuple[int, int], aspect: float) -> float:
    """How far ``m`` is from its nearest similarity: largest corner displacement, as a fraction of the diagonal."""
    h, w = hw
    corners = np.array([[0, w - 1, 0, w - 1], [0, 0, h - 1, h - 1], [1, 1, 1, 1]], np.float64)
    mm = m / m[2, 2]
    sim = _project_similarity(np.vstack([mm[:2], [0, 0, 1.0]]), aspect)
    a, b = mm @ corners, sim @ corners
    d = np.hypot(*(a[:2] / a[2] - b[:2] / b[2]))
    return float(d.max() / math.hypot(h, w))


def _describe(m: np.ndarray, hw: tuple[int, int]) -> tuple[float, float, float]:
    """(scale, rotation in degrees, shift of the image centre in pixels) of a 3x3 matrix."""
    a = m[:2, :2]
    scale = math.sqrt(abs(float(np.linalg.det(a))))
    rot = math.degrees(math.atan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1]))
    c = np.array([(hw[1] - 1) / 2.0, (hw[0] - 1) / 2.0, 1.0])
    p = m @ c
    p = p[:2] / p[2]
    return scale, rot, float(np.hypot(*(p - c[:2])))


def _work_scale(hw: tuple[int, int], work_side: int) -> np.ndarray:
    """3x3 matrix from full-resolution pixel centres to work-resolution pixel centres."""
    f = min(1.0, work_side / max(hw))
    wh = (max(8, round(hw[0] * f)), max(8, round(hw[1] * f)))
    fy, fx = wh[0] / hw[0], wh[1] / hw[1]
    return np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1.0]]), wh


def align_prior(prior: np.ndarray, input: np.ndarray, *, record: dict[str, Any] | None = None,
                register: bool = True, motion: str = "affine", work_side: int = 256,
                max_scale_change: float = 0.3, max_rotation_deg: float = 15.0, max_shift: float = 0.25,
                max_distortion: float = 0.03, min_quality: float = 0.3,
                min_valid: float = 0.7) -> tuple[np.ndarray, dict[str, Any]]:
    """Align a prior to its input: undo the send-time fit, then register where trustworthy.

    Args:
        prior: the provider's output, (H', W', 3) uint8 RGB.
        input: the degraded input it was made from, (H, W, 3) uint8 RGB (the original, before ``fit_to_size``).
        record: the :func:`fit_to_size` record of this input, or None (then a prior of another size is resized to
            (H, W), taken to cover the same field of view).
        register: try registration (step 2); False keeps step 1 only.
        motion: ``"translation"``, ``"similarity"``, ``"affine"`` (default: measured the most accurate, see
            ``benchmarks/RESULTS.md``) or ``"homography"``. Affine and homography results must stay within
            ``max_distortion`` of a similarity (in the sent image's frame) to be trusted.
        work_side: registration runs at this longest side (speed; the result is applied at full resolution).
        max_scale_change, max_rotation_deg, max_shift: bounds beyond which a registration is not trusted
            (relative scale change, degrees, fraction of the image diagonal).
        max_distortion: largest corner displacement between the estimate and its nearest similarity, as a
            fraction of the diagonal (shear, anisotropic scale, perspective).
        min_quality: minimum structure correlation (NCC of :func:`structure_map`) after registration.
        min_valid: minimum fraction of the input covered by the registered prior.

    Returns:
        ``(aligned, info)``: the (H, W, 3) uint8 prior and a JSON-able record: ``fit`` (the record or None),
        ``undo`` ("fit", "resize" or "none"), ``registered`` (the registration was applied), ``fallback`` (it was
        tried and rejected), ``reason``, ``motion``, ``matrix`` (3x3, input pixel centres -> undone-prior pixel
        centres; identity when not registered), ``quality`` (structure NCC of the result), ``quality_before``,
        ``scale``, ``rotation_deg``, ``shift_px``, ``valid_fraction``, ``time_ms``; a rejected registration also
        leaves ``quality_rejected`` and ``rejected_matrix`` (what was found, for diagnostics).

    Shape:
        prior (H', W', 3), input (H, W, 3) -> aligned (H, W, 3).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> scene = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
        >>> sent, rec = fit_to_size(scene, (96, 96), mode="pad")
        >>> aligned, info = align_prior(sent, scene, record=rec, register=False)
        >>> aligned.shape, info["undo"], info["registered"], info["fallback"]
        ((48, 48, 3), 'fit', False, False)
    """
    t0 = time.perf_counter()
    prior = as_rgb_uint8(prior, "prior")
    input = as_rgb_uint8(input, "input")
    if motion not in MOTIONS:
        raise ValueError(f"align_prior: motion must be one of {MOTIONS}, got {motion!r}")
    h, w = input.shape[:2]
    if record is not None:
        if [int(v) for v in check_fit_record(record)["input_size"]] != [h, w]:
            raise ValueError(f"align_prior: the fit record is for an input of size {record['input_size']} (H, W) "
                             f"but the input given is {[h, w]}; pass the record made for this input")
        base, undo = undo_fit(prior, record), "fit"
    elif prior.shape[:2] != (h, w):
        base, undo = resize_rgb(prior, (w, h)), "resize"
    else:
        base, undo = prior.copy(), "none"
    info: dict[str, Any] = {"version": RECORD_VERSION, "fit": record, "undo": undo, "registered": False,
                            "fallback": False, "reason": None, "motion": motion, "matrix": np.eye(3).tolist(),
                            "quality": None, "quality_before": None, "scale": 1.0, "rotation_deg": 0.0,
                            "shift_px": 0.0, "valid_fraction": 1.0}
    if not register:
        info["reason"] = "registration off"
        info["time_ms"] = round((time.perf_counter() - t0) * 1e3, 2)
        return base, info
    try:
        cv2 = _cv2()
    except ImportError:
        info.update(fallback=True, reason="OpenCV (cv2) is not installed: pip install opencv-python")
        info["time_ms"] = round((time.perf_counter() - t0) * 1e3, 2)
        return base, info

    s_full, wh = _work_scale((h, w), work_side)
    small_in = resize_rgb(input, (wh[1], wh[0]))
    small_pr = resize_rgb(base, (wh[1], wh[0]))
    s_in, s_pr = structure_map(small_in), structure_map(small_pr)
    ones = np.ones(wh, np.uint8)
    q0 = _ncc(s_in, s_pr, ones)
    info["quality_before"] = round(q0, 4)
    m_work, reason = None, None
    # pixel aspect of the sent image seen from the work grid (a "resize" fit stretches one axis)
    aspect = 1.0
    if record is not None:
        aspect = (record["scale"][1] / s_full[1, 1]) / (record["scale"][0] / s_full[0, 0])
    try:
        scales = np.exp(np.linspace(-math.log(1 + max_scale_change), math.log(1 + max_scale_change), 13))
        m0 = _coarse_guess(cv2, s_in, s_pr, scales)
        m_work, _ = _ecc(cv2, s_in, s_pr, m0, motion, 60, aspect)
    except cv2.error:
        try:  # the coarse guess can mislead ECC on weak structure: try from the identity too
            m_work, _ = _ecc(cv2, s_in, s_pr, np.eye(3), motion, 60, aspect)
        except cv2.error:
            reason = "registration did not converge"
    if m_work is not None:
        valid = _valid_mask(cv2, m_work, wh, wh)
        warped = _warp(cv2, s_pr, m_work, (wh[1], wh[0]), border=cv2.BORDER_REPLICATE)
        q1 = _ncc(s_in, warped, valid)
        scale, rot, shift = _describe(m_work, wh)
        vf = float(valid.mean())
        diag = math.hypot(*wh)
        info.update(quality=round(q1, 4), valid_fraction=round(vf, 4))
        if not np.all(np.isfinite(m_work)):
            reason = "registration gave a non-finite transform"
        elif abs(math.log(max(scale, 1e-6))) > math.log(1 + max_scale_change):
            reason = f"scale change {scale:.3f} beyond the bound {max_scale_change}"
        elif abs(rot) > max_rotation_deg:
            reason = f"rotation {rot:.1f} deg beyond the bound {max_rotation_deg}"
        elif shift > max_shift * diag:
            reason = f"shift {shift:.1f}px beyond the bound {max_shift} of the diagonal"
        elif _distortion(m_work, wh, aspect) > max_distortion:
            reason = f"the {motion} estimate is {_distortion(m_work, wh, aspect):.3f} of the diagonal away from a " \
                     f"similarity (bound {max_distortion})"
        elif vf < min_valid:
            reason = f"registered prior covers only {vf:.2f} of the input"
        elif q1 < min_quality:
            reason = f"structure correlation {q1:.3f} below {min_quality}"
        elif q1 < q0 - 0.01:
            reason = f"registration lowers the structure correlation ({q0:.3f} -> {q1:.3f})"
    if reason is not None:
        if info["quality"] is not None:
            info["quality_rejected"] = info["quality"]
        if m_work is not None and np.all(np.isfinite(m_work)):  # what was found, for diagnostics
            m_rej = np.linalg.inv(s_full) @ m_work @ s_full
            info["rejected_matrix"] = [[round(float(v), 6) for v in row] for row in m_rej]
        info.update(fallback=True, reason=reason, quality=round(q0, 4), valid_fraction=1.0)
        info["time_ms"] = round((time.perf_counter() - t0) * 1e3, 2)
        return base, info
    m_full = np.linalg.inv(s_full) @ m_work @ s_full
    aligned = _warp(cv2, base, m_full, (w, h), border=cv2.BORDER_REPLICATE)
    scale, rot, shift = _describe(m_full, (h, w))
    info.update(registered=True, matrix=[[round(float(v), 6) for v in row] for row in m_full],
                scale=round(scale, 5), rotation_deg=round(rot, 4), shift_px=round(shift, 3))
    info["time_ms"] = round((time.perf_counter() - t0) * 1e3, 2)
    return aligned, info


# ------------------------------------------------------------------------------------------- dense + confidence
def align_with_confidence(prior: np.ndarray, input: np.ndarray, *, record: dict[str, Any] | None = None,
                          register: bool = True, dense: bool = True, motion: str = "affine",
                          dense_options: dict[str, Any] | None = None, **global_options: Any
                          ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The whole alignment: :func:`align_prior` (undo the fit, register globally), then
    :func:`gpt4o_prior.dense_align.dense_align` (a smooth dense flow and a per-pixel confidence).

    Args:
        prior, input, record, register, motion: as for :func:`align_prior`.
        dense: run the dense step (False: the confidence is 1 everywhere, as caches made before it assumed).
        dense_options: keyword arguments of ``dense_align`` (``work_side``, ``preset``, ...).
        **global_options: further keyword arguments of :func:`align_prior`.

    Returns:
        ``(aligned, confidence, info)``: the (H, W, 3) uint8 prior, an (H, W) float32 confidence in [0, 1] and the
        record of :func:`align_prior` with ``info["dense"]`` (the dense step's record, or None when off).

    Shape:
        prior (H', W', 3), input (H, W, 3) -> aligned (H, W, 3), confidence (H, W).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> scene = (rng.random((40, 40, 3)) * 255).astype(np.uint8)
        >>> aligned, conf, info = align_with_confidence(scene, scene)
        >>> aligned.shape, conf.shape, info["dense"]["version"] >= 1
        ((40, 40, 3), (40, 40), True)
    """
    from .dense_align import dense_align

    base, info = align_prior(prior, input, record=record, register=register, motion=motion, **global_options)
    if not dense:
        info["dense"] = None
        return base, np.ones(base.shape[:2], np.float32), info
    aligned, confidence, info["dense"] = dense_align(base, input, **(dense_options or {}))
    info["time_ms"] = round(info["time_ms"] + info["dense"]["time_ms"], 2)
    return aligned, confidence, info
