"""dense_align.py: the dense step brings a locally displaced prior onto its input, and its confidence is high for a
correct but displaced prior, low for the prior of another image and where content was invented."""
import numpy as np
import pytest

from gpt4o_prior import dense_align as dense_mod
from gpt4o_prior.align import align_with_confidence
from gpt4o_prior.dense_align import (confidence_from_uint8, confidence_to_uint8, dense_align,
                                     structure_agreement)
from tests.helpers.images import local_warp, photo

cv2 = pytest.importorskip("cv2")


def hazy(img, t=0.45, airlight=0.85):
    return (np.clip(img / 255 * t + airlight * (1 - t), 0, 1) * 255).astype(np.uint8)


def mae(a, b, m=10):
    return float(np.abs(a[m:-m, m:-m].astype(int) - b[m:-m, m:-m].astype(int)).mean())


@pytest.mark.parametrize("index", [0, 9, 17])
def test_local_motion_is_undone_and_trusted(index):
    clean = photo(index)
    prior = local_warp(clean, 3.0, seed=index)
    aligned, conf, info = dense_align(prior, clean)
    assert aligned.shape == clean.shape and aligned.dtype == np.uint8
    assert conf.shape == clean.shape[:2] and conf.dtype == np.float32
    assert 0.0 <= conf.min() and conf.max() <= 1.0
    assert mae(aligned, clean) < 0.7 * mae(prior, clean)
    assert conf.mean() > 0.6, info
    assert info["motion_p90_px"] > 1.0 and info["version"] == dense_mod.DENSE_VERSION


def test_prior_of_another_image_gets_low_confidence():
    inp = hazy(photo(3))
    own = dense_align(local_warp(photo(3), 2.0), inp)[1].mean()
    other = dense_align(photo(25), inp)[1].mean()
    assert own > 0.5 and other < 0.25 and own > other + 0.35, (own, other)


def test_invented_region_is_less_trusted_than_the_rest():
    clean = photo(5)
    prior = clean.copy()
    prior[32:96, 32:96] = photo(30)[32:96, 32:96]  # content of another scene painted in
    conf = dense_align(prior, clean)[1]
    inside, outside = conf[44:84, 44:84].mean(), np.concatenate([conf[:20].ravel(), conf[-20:].ravel()]).mean()
    assert inside < 0.35 and outside > 0.6, (inside, outside)


def test_identical_images_are_fully_trusted_and_unchanged():
    img = photo(7)
    aligned, conf, info = dense_align(img, img)
    assert mae(aligned, img, 2) < 1.0 and conf.mean() > 0.9 and info["consistent_fraction"] > 0.9


def test_bad_inputs_name_the_argument():
    img = photo(1)
    with pytest.raises(ValueError, match="prior"):
        dense_align(img[..., 0], img)
    with pytest.raises(ValueError, match="same size"):
        dense_align(img[:64], img)
    with pytest.raises(ValueError, match="preset"):
        dense_align(img, img, preset="slow")


def test_without_opencv_the_prior_is_kept_with_full_confidence(monkeypatch):
    def no_cv2():
        raise ImportError("no cv2")

    monkeypatch.setattr(dense_mod, "_cv2", no_cv2)
    img = photo(2)
    aligned, conf, info = dense_align(np.roll(img, 2, 1), img)
    assert np.array_equal(aligned, np.roll(img, 2, 1)) and np.all(conf == 1.0) and "opencv" in info["skipped"].lower()


def test_align_with_confidence_chains_global_and_dense():
    clean = photo(11, 160)
    prior = cv2.resize(np.roll(local_warp(clean, 2.0), 5, axis=1), (320, 320), interpolation=cv2.INTER_CUBIC)
    aligned, conf, info = align_with_confidence(prior, hazy(clean))
    assert aligned.shape == clean.shape and conf.shape == (160, 160)
    assert info["undo"] == "resize" and info["registered"] and info["dense"]["version"] == dense_mod.DENSE_VERSION
    assert mae(aligned, clean) < mae(cv2.resize(prior, (160, 160), interpolation=cv2.INTER_AREA), clean)
    off, ones, info_off = align_with_confidence(prior, hazy(clean), dense=False)
    assert info_off["dense"] is None and np.all(ones == 1.0)


def test_confidence_quantisation_round_trips():
    c = np.random.default_rng(0).random((9, 7)).astype(np.float32)
    back = confidence_from_uint8(confidence_to_uint8(c))
    assert back.dtype == np.float32 and np.abs(back - c).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match="confidence"):
        confidence_to_uint8(np.zeros((2, 2, 2)))


def test_structure_agreement_flat_areas_get_the_flat_value():
    flat = np.zeros((32, 32), np.float32)
    assert np.allclose(structure_agreement(flat, flat, sigma=3, flat_confidence=0.4), 0.4)


def rainy(img: np.ndarray, seed: int = 0, n: int = 900, length: int = 25, strength: float = 110) -> np.ndarray:
    """Dense bright streaks over ``img``: strong fine structure that a clean prior lacks."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    layer = np.zeros((h, w), np.float32)
    for _ in range(n):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.line(layer, (x, y), (int(x + 0.3 * length), y + length), 1.0, 1)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.8)
    return np.clip(img.astype(np.float32) + strength * layer[..., None], 0, 255).astype(np.uint8)


@pytest.mark.parametrize("index", [9, 17])
def test_the_coarse_opinion_trusts_a_correct_prior_through_rain_and_still_rejects_wrong_ones(index):
    clean = photo(index, 384)
    inp = rainy(clean, seed=index)
    prior = local_warp(clean, 6.0, seed=index)
    v2 = dense_align(prior, inp)[1].mean()
    v1 = dense_align(prior, inp, coarse_side=None)[1].mean()  # the fine confidence alone (version 1)
    assert v2 > v1 + 0.08, (v2, v1)
    assert dense_align(photo(25, 384), inp)[1].mean() < 0.15
    invented = clean.copy()
    invented[96:288, 96:288] = photo(30, 384)[96:288, 96:288]
    conf = dense_align(invented, inp)[1]
    inside, outside = conf[130:250, 130:250].mean(), np.concatenate([conf[:60].ravel(), conf[-60:].ravel()]).mean()
    assert inside < 0.2 and outside > inside + 0.3, (inside, outside)
