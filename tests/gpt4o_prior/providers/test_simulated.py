"""Simulated GPT-like priors: controlled, seeded, recorded, labelled simulated."""
import json

import numpy as np
import pytest

from gpt4o_prior.data import bundled_images, read_rgb
from gpt4o_prior.providers import get_provider
from gpt4o_prior.providers.simulated import SimulatedProvider, simulate_prior, warp_homography

OFF = dict(max_shift_px=0, max_scale=0, max_aspect=0, max_rotation_deg=0, perspective=0, object_changes=0,
           color_shift=0, detail=0)


@pytest.fixture(scope="module")
def clean():
    return read_rgb(bundled_images("val")[2])[:64, :64].copy()


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / max(np.mean((a.astype(float) - b.astype(float)) ** 2), 1e-10))


def test_all_off_is_identity_and_record_is_jsonable(clean):
    prior, rec = simulate_prior(clean, **OFF)
    assert np.array_equal(prior, clean)
    assert rec["label"] == "simulated" and rec["shift_px"] == 0
    json.dumps(rec)


def test_shift_only_is_a_translation(clean):
    prior, rec = simulate_prior(clean, seed=5, **{**OFF, "max_shift_px": 8})
    dx, dy = rec["geometry"]["shift_xy"]
    assert 4 <= rec["shift_px"] <= 8 and abs(np.hypot(dx, dy) - rec["shift_px"]) < 1e-9
    # the prior is the pure translation of the clean image (compared away from the reflected borders)
    h, w = clean.shape[:2]
    m = 10
    moved = prior[m:h - m, m:w - m].astype(float)
    ref = warp_homography(clean, np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]]))[m:h - m, m:w - m]
    assert np.abs(moved - ref).max() <= 1


def test_sweep_strength_lowers_fidelity(clean):
    scores = [psnr(simulate_prior(clean, seed=1, **{**OFF, "max_shift_px": s})[0], clean) for s in (0, 4, 16, 32)]
    assert scores[0] > 60 and scores[1] > scores[2] > scores[3] - 0.5


def test_each_effect_is_recorded(clean):
    prior, rec = simulate_prior(clean, seed=2, object_changes=3, color_shift=0.1, detail=0.05)
    assert len(rec["object_changes"]) == 3
    assert len(rec["color"]["gains"]) == 3 and rec["detail"]["texture_amplitude"] == 0.05
    assert np.asarray(rec["geometry"]["homography"]).shape == (3, 3)
    assert not np.array_equal(prior, clean)
    again, rec2 = simulate_prior(clean, seed=2, object_changes=3, color_shift=0.1, detail=0.05)
    assert np.array_equal(prior, again) and rec == rec2
    with pytest.raises(ValueError, match="max_shift_px must be >= 0"):
        simulate_prior(clean, max_shift_px=-1)
    with pytest.raises(ValueError, match="output_size must be"):
        simulate_prior(clean, output_size=(0, 10))


def test_aspect_and_output_size(clean):
    prior, rec = simulate_prior(clean, seed=4, **{**OFF, "max_aspect": 0.1, "output_size": (96, 80)})
    assert prior.shape == (80, 96, 3) and rec["settings"]["output_size"] == [96, 80]
    assert 0.9 <= rec["geometry"]["aspect"] <= 1.1 and rec["geometry"]["aspect"] != 1.0
    p = SimulatedProvider(output_size=(96, 96))
    assert p.make(clean, target=clean).shape == (96, 96, 3) and p.params()["output_size"] == [96, 96]


def test_provider_needs_target_and_seeds_per_image(clean):
    p = get_provider("simulated", max_shift_px=16, seed=3)
    assert isinstance(p, SimulatedProvider) and p.label == "simulated" and p.name == "simulated"
    assert p.key_fields()["params"]["max_shift_px"] == 16.0
    assert SimulatedProvider(seed=1).key_fields() != SimulatedProvider(seed=2).key_fields()
    with pytest.raises(ValueError, match="needs target="):
        p.make(clean)
    a = p.make(clean, target=clean)
    assert np.array_equal(a, p.make(clean, target=clean))
    assert p.last_record["settings"]["max_shift_px"] == 16.0
    other = np.ascontiguousarray(clean[::-1])
    assert p.image_seed(clean) != p.image_seed(other)
    with pytest.raises(ValueError, match="same shape"):
        p.make(clean, target=clean[:32])


def test_offline_providers_fill_a_cache_with_their_labels(tmp_path):
    """Both offline providers go through the common fill_cache path; labels survive into sets and sidecars."""
    from gpt4o_prior.cache import PriorCache, sha256_file
    from gpt4o_prior.data import make_paired_dataset
    from gpt4o_prior.providers.base import fill_cache
    from gpt4o_prior.providers.classical import ClassicalProvider

    ds = make_paired_dataset(tmp_path / "data", "dehaze", split="val", limit=2, crop=32)
    cache = PriorCache(tmp_path / "cache", durable=False)
    lq = [p for p, _ in ds.pairs()]
    gt_of = {p: g for p, g in ds.pairs()}
    out = fill_cache(lq, cache=cache, set_name="toy-sim", provider=SimulatedProvider(max_shift_px=4),
                     targets=lambda p: gt_of[p])
    assert out["done"] == 2 and not out["failed"]
    out = fill_cache(lq, cache=cache, set_name="toy-dcp", provider=ClassicalProvider(task="dehaze"))
    assert out["done"] == 2 and not out["failed"]
    assert cache.get_set("toy-sim").label == "simulated" and cache.get_set("toy-dcp").label == "classical"
    entry = cache.find("toy-sim", sha256_file(lq[0]))
    assert entry.meta["label"] == "simulated" and entry.meta["record"]["label"] == "simulated"
    assert cache.load_prior("toy-dcp", lq[1]).shape == (32, 32, 3)


def test_register_aligns_the_simulation_to_its_input():
    """register=True stores what the cache's alignment makes of the misaligned simulation (as generate does)."""
    from gpt4o_prior.data import degrade

    clean = read_rgb(bundled_images("val")[3])
    hazy = degrade(clean, "dehaze", seed=1)
    strengths = {**OFF, "max_shift_px": 8, "color_shift": 0.04}
    raw = SimulatedProvider(seed=2, **strengths)
    reg = SimulatedProvider(seed=2, register=True, **strengths)
    assert "register" not in raw.params() and reg.key_fields() != raw.key_fields()
    a, b = raw.make(hazy, target=clean), reg.make(hazy, target=clean)
    info = reg.last_record["alignment"]
    assert info["registered"] and abs(info["shift_px"] - reg.last_record["shift_px"]) < 1.0
    assert "alignment" not in raw.last_record
    m = 12  # away from the borders the warps filled
    assert psnr(b[m:-m, m:-m], clean[m:-m, m:-m]) > psnr(a[m:-m, m:-m], clean[m:-m, m:-m]) + 3


def test_registered_set_keeps_the_simulation_as_made_as_its_raw_output(tmp_path):
    """Like a GPT answer: raw = the misaligned output, prior = its registration to the input."""
    from gpt4o_prior.cache import PriorCache, sha256_file
    from gpt4o_prior.data import degrade, write_png
    from gpt4o_prior.providers.base import fill_cache

    clean = read_rgb(bundled_images("val")[3])
    lq, gt = tmp_path / "lq" / "a.png", tmp_path / "gt" / "a.png"
    write_png(lq, degrade(clean, "dehaze", seed=1))
    write_png(gt, clean)
    strengths = {**OFF, "max_shift_px": 8}
    cache = PriorCache(tmp_path / "cache", durable=False)
    out = fill_cache([lq], cache=cache, set_name="sim-reg", targets=lambda p: gt,
                     provider=SimulatedProvider(seed=2, register=True, **strengths))
    assert out["done"] == 1
    entry = cache.find("sim-reg", sha256_file(lq))
    made = SimulatedProvider(seed=2, **strengths).make(read_rgb(lq), target=clean)
    registered = SimulatedProvider(seed=2, register=True, **strengths).make(read_rgb(lq), target=clean)
    assert np.array_equal(read_rgb(entry.raw_path), made)
    assert np.array_equal(cache.load_prior("sim-reg", lq), registered)
    assert entry.meta["record"]["alignment"]["registered"]
