"""The simulated provider's cache key covers its target, and its presets (mild unchanged, generative, harsh)."""
import json

import numpy as np
import pytest

from gpt4o_prior.cache import PriorCache, request_key, sha256_file
from gpt4o_prior.data import bundled_images, degrade, read_rgb, write_png
from gpt4o_prior.providers.base import fill_cache
from gpt4o_prior.providers.simulated import PRESETS, SimulatedProvider, preset_strengths, simulate_prior


def _pair_folders(root, clean_a, clean_b):
    """One hazy input folder, two target folders holding different clean images under the same names."""
    lq = root / "lq" / "x.png"
    write_png(lq, degrade(clean_a, "dehaze", seed=1))
    write_png(root / "gt_a" / "x.png", clean_a)
    write_png(root / "gt_b" / "x.png", clean_b)
    return lq


def test_two_sets_from_different_targets_keep_their_own_priors(tmp_path):
    """Same provider settings, same inputs, different targets: two keys, two priors, neither overwritten."""
    imgs = bundled_images("val")
    a, b = read_rgb(imgs[0])[:48, :48].copy(), read_rgb(imgs[1])[:48, :48].copy()
    lq = _pair_folders(tmp_path, a, b)
    cache = PriorCache(tmp_path / "cache", durable=False)
    provider = SimulatedProvider(seed=3)
    fill_cache([lq], cache=cache, set_name="sim-a", provider=provider, targets=lambda p: tmp_path / "gt_a" / p.name)
    first = cache.load_prior("sim-a", lq).copy()
    fill_cache([lq], cache=cache, set_name="sim-b", provider=provider, targets=lambda p: tmp_path / "gt_b" / p.name)
    again = cache.load_prior("sim-a", lq)
    other = cache.load_prior("sim-b", lq)
    image = read_rgb(lq)
    assert np.array_equal(first, SimulatedProvider(seed=3).make(image, target=a))
    assert np.array_equal(again, first), "filling set sim-b changed the priors of set sim-a"
    assert np.array_equal(other, SimulatedProvider(seed=3).make(image, target=b))
    assert not np.array_equal(other, first)
    src = sha256_file(lq)
    assert cache.find("sim-a", src).key != cache.find("sim-b", src).key


def test_target_hash_is_in_the_key_only_for_providers_that_use_it():
    from gpt4o_prior.providers.classical import ClassicalProvider

    sha = "ab" * 32
    sim, dcp = SimulatedProvider(), ClassicalProvider(task="dehaze")
    assert sim.key_fields(target_sha256=sha)["params"]["target_sha256"] == sha
    assert "target_sha256" not in sim.key_fields()["params"]
    assert dcp.key_fields(target_sha256=sha) == dcp.key_fields()
    k1 = request_key(**sim.key_fields(target_sha256=sha), input_sha256="cd" * 32)
    k2 = request_key(**sim.key_fields(target_sha256="ef" * 32), input_sha256="cd" * 32)
    assert k1 != k2


def test_mild_preset_is_the_old_default_bit_for_bit():
    """The mild preset keeps version 1's params (and so the keys of sets made before) and its pixels."""
    clean = read_rgb(bundled_images("val")[2])[:64, :64].copy()
    old_params = {"version": 1, "seed": 0, "max_shift_px": 4.0, "max_scale": 0.02, "max_aspect": 0.02,
                  "max_rotation_deg": 1.0, "perspective": 0.02, "object_changes": 1, "color_shift": 0.06,
                  "detail": 0.04, "output_size": None}
    assert SimulatedProvider().params() == old_params
    assert SimulatedProvider(preset="mild").params() == old_params
    a, rec = simulate_prior(clean, seed=7)
    b, _ = simulate_prior(clean, seed=7, preset="mild")
    assert np.array_equal(a, b) and rec["version"] == 1 and "preset" not in rec
    # explicit values of the old signature still win
    assert SimulatedProvider(max_shift_px=16).params()["max_shift_px"] == 16.0


def test_generative_preset_draws_every_new_effect_and_changes_the_key():
    clean = read_rgb(bundled_images("val")[2])
    gen = SimulatedProvider(preset="generative")
    assert gen.params()["version"] == 2 and gen.params() != SimulatedProvider().params()
    seen = {"reframe": 0, "invented": 0, "resized": 0}
    for seed in range(40):
        prior, rec = simulate_prior(clean, seed=seed, preset="generative")
        json.dumps(rec)
        assert rec["preset"] == "generative" and rec["local_motion"]["median_px"] > 0
        seen["reframe"] += bool(rec["reframe"]["applied"])
        seen["invented"] += rec["invented"]["area_fraction"] > 0.01
        seen["resized"] += prior.shape != clean.shape
        if prior.shape != clean.shape:  # resized with the aspect kept
            assert abs(prior.shape[1] / prior.shape[0] - clean.shape[1] / clean.shape[0]) < 0.05
    assert seen["invented"] >= 10 and seen["resized"] >= 4 and seen["reframe"] >= 1


def test_invented_content_stays_within_its_area_bound():
    clean = read_rgb(bundled_images("val")[1])
    for seed in range(10):
        _, rec = simulate_prior(clean, seed=seed, preset="mild", invented_regions=3, invented_area=0.3)
        assert 0 <= rec["invented"]["area_fraction"] <= 0.3 + 1e-6


def test_harsh_is_harsher_than_generative():
    assert PRESETS["harsh"]["invented_area"] > PRESETS["generative"]["invented_area"]
    assert PRESETS["harsh"]["reframe_prob"] > PRESETS["generative"]["reframe_prob"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(preset="wild"), "unknown simulated preset 'wild'"),
    (dict(reframe_prob=2.0), "reframe_prob must be in"),
    (dict(invented_area=1.0), "invented_area must be in"),
    (dict(output_scales=[(0.0, 1.0)]), "output_scales needs factors"),
    (dict(local_motion_px=-1), "local_motion_px must be >= 0"),
])
def test_bad_strengths_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SimulatedProvider(**kwargs)
    with pytest.raises(ValueError, match="unknown strength"):
        preset_strengths("mild", wobble=1)


@pytest.mark.parametrize("kwargs", [dict(preset="generative", register=True),
                                    dict(preset="generative", register=True, dense=False),
                                    dict(preset="harsh"), dict(register=True)])
def test_a_set_of_any_preset_is_rebuilt_from_its_record(kwargs):
    """`restore` refills missing priors of a simulated set from the set's params: every preset and mode."""
    from gpt4o_prior.cache import PriorSet
    from gpt4o_prior.restore import offline_provider_for_set

    made = SimulatedProvider(seed=4, **kwargs)
    again = offline_provider_for_set(PriorSet(name="s", **made.set_fields()))
    assert again.params() == made.params() and again.dense == made.dense
