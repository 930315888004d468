"""realism.py: the diagnostic recovers the size ratio, reframing, residual motion and colour change it is given."""
import numpy as np
import pytest

from gpt4o_prior.realism import FIGURES, diagnose_prior, summarize_diagnoses
from tests.helpers.images import local_warp, photo

cv2 = pytest.importorskip("cv2")


def test_identical_pair_is_the_identity():
    img = photo(4, 160)
    d = diagnose_prior(img, img)
    assert set(FIGURES) <= set(d) and d["registered"] and d["global_from"] == "accepted"
    assert abs(d["scale"] - 1) < 0.01 and abs(d["aspect"] - 1) < 0.01 and d["shift_frac"] < 0.005
    assert d["agree_fraction"] > 0.9 and abs(d["brightness_shift"]) < 0.01 and d["colour_shift"] < 0.5


def test_size_zoom_motion_and_brightness_are_measured():
    img = photo(8, 160)
    zoom = cv2.warpAffine(img, np.float32([[1.04, 0, -3.2], [0, 1.04, -3.2]]), (160, 160),
                          borderMode=cv2.BORDER_REFLECT)
    brighter = np.clip(local_warp(zoom, 2.5).astype(int) + 30, 0, 255).astype(np.uint8)
    prior = cv2.resize(brighter, (320, 320), interpolation=cv2.INTER_CUBIC)
    d = diagnose_prior(prior, img)
    assert d["size_ratio"] == [2.0, 2.0]
    assert d["registered"] and abs(d["scale"] - 1.04) < 0.015, d
    assert d["motion_p90_px"] > 1.0 and d["brightness_shift"] > 0.05


def test_a_squashed_prior_is_rejected_but_its_estimate_is_reported():
    img = photo(3, 192)  # content squashed 20 % vertically (another aspect ratio resized back to the frame)
    squashed = cv2.warpAffine(img, np.float32([[1, 0, 0], [0, 0.8, 19]]), (192, 192), borderMode=cv2.BORDER_REFLECT)
    d = diagnose_prior(squashed, img)
    assert not d["registered"] and d["global_from"] == "rejected estimate" and d["reason"]
    assert abs(d["aspect"] - 0.8) < 0.02, d


def test_summary_has_median_and_spread():
    rows = [{**{k: float(i) for k in FIGURES}, "registered": i % 2 == 0} for i in range(11)]
    s = summarize_diagnoses(rows)
    assert s["scale"] == {"median": 5.0, "p10": 1.0, "p90": 9.0} and s["registered"] == {"share": 0.5455, "n": 11}
    with pytest.raises(ValueError, match="no diagnoses"):
        summarize_diagnoses([])
