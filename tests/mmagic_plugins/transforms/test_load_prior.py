"""mmagic_plugins.transforms.load_prior: loading by content hash in the input's layout, renamed inputs, missing
priors and fallbacks, cropped inputs refused, and the confidence loaded with its prior."""
import shutil

import numpy as np
import pytest

from tests.helpers.mmagic import CONF, load_with_prior, red_confidence


@pytest.mark.parametrize("order", ["bgr", "rgb"])
def test_load_prior_in_input_layout(mm, tiny_data, order):
    path = sorted((tiny_data["root"] / "val" / "lq").iterdir())[0]
    res = load_with_prior(mm, path, order, cache=str(tiny_data["cache"]), set="sim")
    want = tiny_data["priors"][str(path)]
    want = want[..., ::-1] if order == "bgr" else want
    assert res["prior"].shape == res["img"].shape and res["prior"].dtype == res["img"].dtype
    np.testing.assert_array_equal(res["prior"], want)
    assert res["prior_channel_order"] == order


def test_load_prior_finds_renamed_input_by_hash(mm, tiny_data, tmp_path):
    src = sorted((tiny_data["root"] / "val" / "lq").iterdir())[1]
    moved = tmp_path / "elsewhere" / "renamed.png"
    moved.parent.mkdir()
    shutil.copy(src, moved)
    res = load_with_prior(mm, moved, "rgb", cache=str(tiny_data["cache"]), set="sim")
    np.testing.assert_array_equal(res["prior"], tiny_data["priors"][str(src)])


def test_load_prior_missing_and_fallbacks(mm, tiny_data, tmp_path, write_image):
    from gpt4o_prior.cache import PriorMissingError

    path = tmp_path / "new.png"
    write_image(path, np.full((8, 8, 3), 40, np.uint8))
    with pytest.raises(PriorMissingError, match="new.png"):
        load_with_prior(mm, path, cache=str(tiny_data["cache"]), set="sim")
    res = load_with_prior(mm, path, cache=str(tiny_data["cache"]), set="sim", fallback="input")
    np.testing.assert_array_equal(res["prior"], res["img"])
    res = load_with_prior(mm, path, cache=str(tiny_data["cache"]), set="sim", fallback="zeros")
    assert res["prior"].shape == (8, 8, 3) and res["prior"].max() == 0
    with pytest.raises(ValueError, match="fallback"):
        mm.transforms.LoadPrior(cache="c", set="s", fallback="skip")


def test_load_prior_refuses_a_cropped_input(mm, tiny_data):
    from mmagic.registry import TRANSFORMS

    path = sorted((tiny_data["root"] / "val" / "lq").iterdir())[0]
    res = TRANSFORMS.build(dict(type="LoadImageFromFile", key="img"))(dict(img_path=str(path)))
    res["img"] = res["img"][:16]
    with pytest.raises(ValueError, match="right after LoadImageFromFile"):
        TRANSFORMS.build(dict(type="LoadPrior", cache=str(tiny_data["cache"]), set="sim"))(res)


# ------------------------------------------------------------------------------------------ confidence
@pytest.mark.parametrize("order", ["bgr", "rgb"])
def test_load_prior_loads_the_confidence(mm, tiny_data, conf_cache, order):
    path = sorted((tiny_data["root"] / "train" / "lq").iterdir())[0]
    res = load_with_prior(mm, path, order, cache=str(conf_cache), set=CONF)
    conf = res["prior_confidence"]
    assert conf.shape == (32, 32, 1) and conf.dtype == np.float32 and conf.flags.writeable
    rgb = res["prior"][..., ::-1] if order == "bgr" else res["prior"]
    np.testing.assert_array_equal(conf[..., 0], red_confidence(rgb))
    assert 0.2 < float(conf.min()) < float(conf.max()) < 1.0  # a non-trivial map, not ones
    # a prior cached without a confidence (caches made before confidence maps): trusted everywhere
    old = load_with_prior(mm, path, order, cache=str(tiny_data["cache"]), set="sim")
    np.testing.assert_array_equal(old["prior_confidence"], np.ones((32, 32, 1), np.float32))
    # confidence=False: no confidence at all, the prior exactly as before
    off = load_with_prior(mm, path, order, cache=str(conf_cache), set=CONF, confidence=False)
    assert "prior_confidence" not in off
    np.testing.assert_array_equal(off["prior"], res["prior"])


def test_a_fallback_prior_is_trusted_nowhere(mm, conf_cache, tmp_path, write_image):
    path = tmp_path / "new.png"
    write_image(path, np.full((8, 8, 3), 40, np.uint8))
    for fallback in ("input", "zeros"):
        res = load_with_prior(mm, path, cache=str(conf_cache), set=CONF, fallback=fallback)
        assert res["prior_confidence"].shape == (8, 8, 1) and float(np.abs(res["prior_confidence"]).max()) == 0


def test_a_non_bool_confidence_is_refused(mm):
    with pytest.raises(ValueError, match="LoadPrior: confidence must be True or False, got 'yes'"):
        mm.transforms.LoadPrior(cache="c", set="s", confidence="yes")
