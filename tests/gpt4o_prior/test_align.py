"""gpt4o_prior.align: align_prior recovers known shifts, scales and crops, also
from hazy and dark inputs against clean priors, and falls back when registration is not trustworthy."""
import json
import math

import numpy as np
import pytest

from gpt4o_prior import align
from gpt4o_prior.align import align_prior, fit_matrix, fit_to_size, undo_fit
from tests.helpers.images import scene

cv2 = pytest.importorskip("cv2")


def hazy(img, t=0.4, airlight=0.85):
    return (np.clip(img / 255 * t + airlight * (1 - t), 0, 1) * 255).astype(np.uint8)


def dark(img, seed=0):
    x = (img / 255) ** 1.5 * 0.12 + np.random.default_rng(seed).normal(0, 0.008, img.shape)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def similarity(s, deg, tx, ty, c):
    a = math.radians(deg)
    m = np.array([[s * math.cos(a), -s * math.sin(a), 0], [s * math.sin(a), s * math.cos(a), 0], [0, 0, 1]])
    return np.array([[1, 0, c[0] + tx], [0, 1, c[1] + ty], [0, 0, 1]]) @ m @ np.array([[1, 0, -c[0]], [0, 1, -c[1]],
                                                                                         [0, 0, 1]])


def endpoint_error(est, true, hw):
    ys, xs = np.mgrid[0:hw[0]:4, 0:hw[1]:4]
    p = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    a, b = est @ p, true @ p
    return float(np.hypot(*(a[:2] / a[2] - b[:2] / b[2])).mean())


def gpt_like(clean, size, mode, transform_args):
    """A clean 'GPT output' for the fitted input, re-framed by a known similarity in the sent geometry."""
    sent, rec = fit_to_size(clean, size, mode=mode)
    c = ((size[0] - 1) / 2, (size[1] - 1) / 2)
    t = similarity(*transform_args, c)
    prior = cv2.warpAffine(sent, t[:2], size, borderMode=cv2.BORDER_REFLECT)
    f = fit_matrix(rec)
    return prior, rec, np.linalg.inv(f) @ t @ f  # true map: input pixel -> undone-prior pixel


# ------------------------------------------------------------------ step 1: fit and undo


# ------------------------------------------------------------------ step 2: registration
CASES = [  # degradation, fit mode, (scale, degrees, tx, ty) in the sent geometry
    ("clean", "pad", (1.05, 0.0, 12.0, -7.0)),
    ("haze", "pad", (0.95, 0.5, -10.0, 6.0)),
    ("dark", "resize", (1.04, -0.5, 8.0, 9.0)),
    ("haze", "crop", (1.0, 0.0, -14.0, 0.0)),
]


@pytest.mark.parametrize("degradation,mode,args", CASES)
def test_registration_recovers_known_transforms(degradation, mode, args):
    clean = scene(7)
    inp = {"clean": lambda x: x, "haze": hazy, "dark": dark}[degradation](clean)
    prior, rec, true = gpt_like(clean, (256, 256), mode, args)
    aligned, info = align_prior(prior, inp, record=rec)
    json.dumps(info)
    assert aligned.shape == inp.shape and info["registered"] and not info["fallback"], info["reason"]
    before = endpoint_error(np.eye(3), true, inp.shape[:2])
    after = endpoint_error(np.array(info["matrix"]), true, inp.shape[:2])
    assert before > 1.5 and after < 0.5, (before, after)
    assert info["quality"] > info["quality_before"]
    # the aligned prior matches the clean image far better than the merely undone one
    undone = undo_fit(prior, rec)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(aligned[inner].astype(int) - clean[inner]).mean() < \
        0.5 * np.abs(undone[inner].astype(int) - clean[inner]).mean()


def test_unrelated_prior_falls_back_to_the_undone_fit():
    inp = hazy(scene(3))
    prior, rec = fit_to_size(scene(99), (256, 256), mode="pad")
    aligned, info = align_prior(prior, inp, record=rec)
    assert info["fallback"] and not info["registered"] and info["reason"]
    assert np.array_equal(aligned, undo_fit(prior, rec)) and info["matrix"] == np.eye(3).tolist()


def test_register_false_and_no_record():
    inp = scene(4)
    aligned, info = align_prior(inp, inp, register=False)
    assert np.array_equal(aligned, inp) and info["undo"] == "none" and not info["fallback"]
    big = cv2.resize(inp, (256, 192), interpolation=cv2.INTER_CUBIC)
    aligned, info = align_prior(big, inp)
    assert aligned.shape == inp.shape and info["undo"] == "resize"
    assert info["registered"] and abs(info["scale"] - 1) < 0.01 and info["shift_px"] < 0.5


def test_without_opencv_registration_falls_back_and_says_why(monkeypatch):
    def no_cv2():
        raise ImportError("no cv2")

    monkeypatch.setattr(align, "_cv2", no_cv2)
    inp = scene(5)
    aligned, info = align_prior(inp, inp)
    assert info["fallback"] and "opencv" in info["reason"].lower() and np.array_equal(aligned, inp)


@pytest.mark.parametrize("degradation,mode,args", CASES)
def test_registration_of_api_sized_priors_stays_within_tolerance(degradation, mode, args):
    """A 320x240 input sent as 1024x1024 (the API's size): the coarse search runs on half-resolution structure
    maps (speed), ECC at the work resolution; the residual error stays under the same 0.5 px."""
    clean = scene(7, 240, 320)
    inp = {"clean": lambda x: x, "haze": hazy, "dark": dark}[degradation](clean)
    s, deg, tx, ty = args
    prior, rec, true = gpt_like(clean, (1024, 1024), mode, (s, deg, tx * 4, ty * 4))
    aligned, info = align_prior(prior, inp, record=rec)
    assert info["registered"] and not info["fallback"], info["reason"]
    after = endpoint_error(np.array(info["matrix"]), true, inp.shape[:2])
    assert endpoint_error(np.eye(3), true, inp.shape[:2]) > 5 and after < 0.5, after
