"""The prior transforms: loading by content hash in the input's layout, the shared crop, prior augmentation."""
from __future__ import annotations

import random
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


# ------------------------------------------------------------------------------------------ confidence
CONF = "conf"  # prior == the input itself, confidence == the input's red channel / 255


def _red(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0].astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def conf_cache(tiny_data, tmp_path_factory):
    """A cache of its own with set ``conf`` for every tiny_data input: each prior is the input itself and its
    confidence the input's red channel / 255 (exact in the cache's 8-bit maps), so a confidence moved correctly
    with its prior equals the prior's red channel / 255, pixel for pixel."""
    import cv2

    from gpt4o_prior.cache import PriorCache, PriorSet, request_key, sha256_file

    cache = PriorCache(tmp_path_factory.mktemp("conf_cache"))
    cache.register_set(PriorSet(name=CONF, provider="simulated", label="simulated"))
    for path in sorted(tiny_data["root"].glob("*/lq/*.png")):
        rgb = np.ascontiguousarray(cv2.imread(str(path))[..., ::-1])
        src = sha256_file(path)
        key = request_key(provider="simulated", model=None, prompt_text=None, prompt_version=None,
                          params={"conf": True}, input_sha256=src)
        cache.put(key, path.read_bytes(), meta={"provider": "simulated"}, aligned=rgb, confidence=_red(rgb),
                  set_name=CONF, source_sha256=src, source_name=path.name)
    return cache.root


@pytest.mark.parametrize("order", ["bgr", "rgb"])
def test_load_prior_loads_the_confidence(mm, tiny_data, conf_cache, order):
    path = sorted((tiny_data["root"] / "train" / "lq").iterdir())[0]
    res = _load(mm, path, order, cache=str(conf_cache), set=CONF)
    conf = res["prior_confidence"]
    assert conf.shape == (32, 32, 1) and conf.dtype == np.float32 and conf.flags.writeable
    rgb = res["prior"][..., ::-1] if order == "bgr" else res["prior"]
    np.testing.assert_array_equal(conf[..., 0], _red(rgb))
    assert 0.2 < float(conf.min()) < float(conf.max()) < 1.0  # a non-trivial map, not ones
    # a prior cached without a confidence (caches made before confidence maps): trusted everywhere
    old = _load(mm, path, order, cache=str(tiny_data["cache"]), set="sim")
    np.testing.assert_array_equal(old["prior_confidence"], np.ones((32, 32, 1), np.float32))
    # confidence=False: no confidence at all, the prior exactly as before
    off = _load(mm, path, order, cache=str(conf_cache), set=CONF, confidence=False)
    assert "prior_confidence" not in off
    np.testing.assert_array_equal(off["prior"], res["prior"])


def test_a_fallback_prior_is_trusted_nowhere(mm, conf_cache, tmp_path, write_image):
    path = tmp_path / "new.png"
    write_image(path, np.full((8, 8, 3), 40, np.uint8))
    for fallback in ("input", "zeros"):
        res = _load(mm, path, cache=str(conf_cache), set=CONF, fallback=fallback)
        assert res["prior_confidence"].shape == (8, 8, 1) and float(np.abs(res["prior_confidence"]).max()) == 0


def test_a_non_bool_confidence_is_refused(mm):
    with pytest.raises(ValueError, match="LoadPrior: confidence must be True or False, got 'yes'"):
        mm.transforms.LoadPrior(cache="c", set="s", confidence="yes")


def test_the_confidence_stays_with_its_prior_through_a_training_pipeline(mm, tiny_data, conf_cache):
    """The written-out pipeline (shared crop, flip, transpose, rotation): each prior pixel keeps its confidence."""
    from mmagic.registry import TRANSFORMS
    from mmagic_plugins.config import prior_pipeline

    written = prior_pipeline([
        dict(type="LoadImageFromFile", key="img", channel_order="rgb"),
        dict(type="LoadImageFromFile", key="gt", channel_order="rgb"),
        dict(type="SetValues", dictionary=dict(scale=1)),
        dict(type="PairedRandomCrop", gt_patch_size=16),
        dict(type="Flip", keys=["img", "gt"], flip_ratio=0.5, direction="horizontal"),
        dict(type="Flip", keys=["img", "gt"], flip_ratio=0.5, direction="vertical"),
        dict(type="RandomTransposeHW", keys=["img", "gt"], transpose_ratio=0.5),
        dict(type="PackInputs")], cache=str(conf_cache), set=CONF, training=True, dropout=0.0, warp=0.0)
    steps = [TRANSFORMS.build(s) for s in written[:-1]]  # all but PackInputs: the arrays themselves
    paths = sorted((tiny_data["root"] / "train" / "lq").iterdir())
    moved = set()
    for seed in range(16):
        np.random.seed(seed)
        res = dict(img_path=str(paths[seed % 4]), gt_path=str(paths[seed % 4]).replace("/lq/", "/gt/"))
        for t in steps:
            res = t(res)
        conf = res["prior_confidence"]
        assert conf.shape == (16, 16, 1) and conf.dtype == np.float32
        np.testing.assert_array_equal(res["prior"], res["img"])  # the echo prior moved like img
        np.testing.assert_array_equal(conf[..., 0], _red(res["prior"]))  # ... and its confidence with it
        moved.add(tuple(f["flip"] for f in res["flip_infos"]) + (res["transpose"],))
    assert len(moved) >= 4  # flips and transpositions were drawn, not only the identity


def test_the_confidence_follows_a_random_rotation(mm):
    from mmagic.registry import TRANSFORMS
    from mmagic_plugins.config import prior_pipeline

    step = prior_pipeline([dict(type="LoadImageFromFile", key="img"), dict(type="RandomRotation", keys=["img"],
                                                                            degrees=30), dict(type="PackInputs")],
                          cache="c", set="s")[2]
    assert step["keys"] == ["img", "prior", "prior_confidence"]
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)
    random.seed(1)  # RandomRotation draws its angle from Python's random
    out = TRANSFORMS.build(step)(dict(img=img, prior=img.copy(), prior_confidence=_red(img)[..., None]))
    assert out["prior_confidence"].shape == (24, 24, 1)
    assert not np.array_equal(out["prior"], img)  # rotated
    np.testing.assert_allclose(out["prior_confidence"][..., 0], _red(out["prior"]), atol=0.5 / 255 + 1e-6)


def test_paired_crop_crops_the_confidence_with_the_prior(mm):
    from mmagic.registry import TRANSFORMS

    rng = np.random.default_rng(5)
    img = rng.integers(0, 255, (20, 24, 3)).astype(np.uint8)
    conf = _red(img)[..., None]
    t = TRANSFORMS.build(dict(type="PriorPairedRandomCrop", gt_patch_size=8))
    for seed in range(5):
        np.random.seed(seed)
        out = t(dict(scale=1, img=img, gt=img.copy(), prior=img.copy(), prior_confidence=conf))
        assert out["prior_confidence"].shape == (8, 8, 1)
        np.testing.assert_array_equal(out["prior_confidence"][..., 0], _red(out["prior"]))
    np.random.seed(0)
    plain = t(dict(scale=1, img=img, gt=img.copy(), prior=img.copy()))  # no confidence: none added
    assert "prior_confidence" not in plain


def test_prior_augment_warps_the_confidence_with_the_prior(mm):
    from mmagic.registry import TRANSFORMS

    img = np.random.default_rng(6).integers(20, 256, (24, 24, 3)).astype(np.uint8)  # red > 0 everywhere
    t = TRANSFORMS.build(dict(type="PriorAugment", dropout=0.0, warp=1.0, max_shift=3.0))
    np.random.seed(2)
    border_zeros = 0
    for _ in range(6):
        out = t(dict(img=img, prior=img.copy(), prior_confidence=_red(img)[..., None]))
        prior, conf = out["prior"], out["prior_confidence"]
        assert not np.array_equal(prior, img) and conf.shape == (24, 24, 1) and conf.dtype == np.float32
        red = _red(prior)  # the warped prior rounds to uint8; its confidence stays float
        np.testing.assert_allclose(conf[5:-5, 5:-5, 0], red[5:-5, 5:-5], atol=0.5 / 255 + 1e-6)
        assert bool((conf[..., 0] <= red + 0.5 / 255 + 1e-6).all())  # never above the prior it belongs to
        border_zeros += int((conf == 0).any())  # the border fill is invented: trusted nowhere
    assert border_zeros > 0


@pytest.mark.parametrize("fill", ["input", "zeros", "mean", "none"])
def test_a_dropped_prior_takes_its_confidence_with_it(mm, fill):
    from mmagic.registry import TRANSFORMS

    img = np.random.default_rng(7).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    out = TRANSFORMS.build(dict(type="PriorAugment", dropout=1.0, dropout_fill=fill, warp=0.0))(
        dict(img=img, prior=255 - img, prior_confidence=np.ones((16, 16, 1), np.float32)))
    assert out["prior_confidence"].shape == (16, 16, 1) and float(out["prior_confidence"].max()) == 0.0


def test_pair_mode_adds_the_dropped_priors_confidence(mm):
    from mmagic.registry import TRANSFORMS

    img = np.random.default_rng(8).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    conf = _red(img)[..., None]
    out = TRANSFORMS.build(dict(type="PriorAugment", warp=0.0, dropout_mode="pair"))(
        dict(img=img, prior=img.copy(), prior_confidence=conf.copy()))
    np.testing.assert_array_equal(out["prior_confidence"], conf)  # the kept view keeps its confidence
    assert out["prior_dropped_confidence"].shape == (16, 16, 1)
    assert float(out["prior_dropped_confidence"].max()) == 0.0
    plain = TRANSFORMS.build(dict(type="PriorAugment", warp=0.0, dropout_mode="pair"))(dict(img=img, prior=img))
    assert "prior_confidence" not in plain and "prior_dropped_confidence" not in plain
