"""The prior transforms: loading by content hash in the input's layout, the shared crop, prior augmentation."""
from __future__ import annotations

import shutil

import numpy as np
import pytest


def _load(mm, path, channel_order="bgr", **kw):
    from mmagic.registry import TRANSFORMS

    steps = [TRANSFORMS.build(dict(type="LoadImageFromFile", key="img", channel_order=channel_order)),
             TRANSFORMS.build(dict(type="LoadPrior", **kw))]
    results = dict(img_path=str(path))
    for t in steps:
        results = t(results)
    return results


@pytest.mark.parametrize("order", ["bgr", "rgb"])
def test_load_prior_in_input_layout(mm, tiny_data, order):
    path = sorted((tiny_data["root"] / "val" / "lq").iterdir())[0]
    res = _load(mm, path, order, cache=str(tiny_data["cache"]), set="sim")
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
    res = _load(mm, moved, "rgb", cache=str(tiny_data["cache"]), set="sim")
    np.testing.assert_array_equal(res["prior"], tiny_data["priors"][str(src)])


def test_load_prior_missing_and_fallbacks(mm, tiny_data, tmp_path, write_image):
    from gpt4o_prior.cache import PriorMissingError

    path = tmp_path / "new.png"
    write_image(path, np.full((8, 8, 3), 40, np.uint8))
    with pytest.raises(PriorMissingError, match="new.png"):
        _load(mm, path, cache=str(tiny_data["cache"]), set="sim")
    res = _load(mm, path, cache=str(tiny_data["cache"]), set="sim", fallback="input")
    np.testing.assert_array_equal(res["prior"], res["img"])
    res = _load(mm, path, cache=str(tiny_data["cache"]), set="sim", fallback="zeros")
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


def test_paired_crop_matches_mmagic_and_moves_the_prior(mm):
    from mmagic.registry import TRANSFORMS

    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (20, 24, 3)).astype(np.uint8)
    gt = rng.integers(0, 255, (20, 24, 3)).astype(np.uint8)
    np.random.seed(5)
    ref = TRANSFORMS.build(dict(type="PairedRandomCrop", gt_patch_size=8))(dict(scale=1, img=img, gt=gt))
    np.random.seed(5)
    out = TRANSFORMS.build(dict(type="PriorPairedRandomCrop", gt_patch_size=8))(
        dict(scale=1, img=img, gt=gt, prior=img.copy()))
    np.testing.assert_array_equal(out["img"], ref["img"])
    np.testing.assert_array_equal(out["gt"], ref["gt"])
    np.testing.assert_array_equal(out["prior"], out["img"])


def test_prior_augment_warps_and_drops(mm):
    from mmagic.registry import TRANSFORMS

    img = np.random.default_rng(2).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    np.random.seed(0)
    kept = TRANSFORMS.build(dict(type="PriorAugment", dropout=0.0, warp=1.0, max_shift=2.0))(
        dict(img=img, prior=img.copy()))["prior"]
    assert kept.shape == img.shape and not np.array_equal(kept, img)
    dropped = TRANSFORMS.build(dict(type="PriorAugment", dropout=1.0, dropout_fill="zeros", warp=0.0))(
        dict(img=img, prior=img.copy()))["prior"]
    assert dropped.max() == 0
    with pytest.raises(ValueError, match="dropout"):
        TRANSFORMS.build(dict(type="PriorAugment", dropout=2.0))


def test_prior_augment_pair_mode_keeps_the_prior_and_adds_its_fill(mm):
    from mmagic.registry import TRANSFORMS

    img = np.random.default_rng(3).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    prior = 255 - img
    t = TRANSFORMS.build(dict(type="PriorAugment", warp=0.0, dropout=0.0, dropout_mode="pair", dropout_fill="input"))
    for _ in range(5):
        out = t(dict(img=img, prior=prior.copy(), prior_channel_order="rgb", prior_color_type="color"))
        np.testing.assert_array_equal(out["prior"], prior)  # never dropped
        np.testing.assert_array_equal(out["prior_dropped"], img)  # fill 'input'
        assert out["prior_dropped_channel_order"] == "rgb" and out["prior_dropped_color_type"] == "color"
        assert "prior_keep" not in out and "prior_dropped_keep" not in out
    out = TRANSFORMS.build(dict(type="PriorAugment", warp=0.0, dropout_mode="pair"))(dict(img=img, prior=prior))
    assert out["prior_keep"] == 1.0 and out["prior_dropped_keep"] == 0.0  # default fill of pair: 'none'
    out = TRANSFORMS.build(dict(type="PriorAugment", warp=0.0, dropout=1.0, dropout_fill="none"))(
        dict(img=img, prior=prior))
    assert out["prior_keep"] == 0.0 and out["prior"].shape == prior.shape
    with pytest.raises(ValueError, match="dropout_mode"):
        TRANSFORMS.build(dict(type="PriorAugment", dropout_mode="batch"))
