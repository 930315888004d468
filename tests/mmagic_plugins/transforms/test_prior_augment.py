"""mmagic_plugins.transforms.prior_augment: prior-only warps and drops, pair mode, and the confidence warped or dropped
with its prior."""
import numpy as np
import pytest

from tests.helpers.mmagic import red_confidence


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


def test_prior_augment_warps_the_confidence_with_the_prior(mm):
    from mmagic.registry import TRANSFORMS

    img = np.random.default_rng(6).integers(20, 256, (24, 24, 3)).astype(np.uint8)  # red > 0 everywhere
    t = TRANSFORMS.build(dict(type="PriorAugment", dropout=0.0, warp=1.0, max_shift=3.0))
    np.random.seed(2)
    border_zeros = 0
    for _ in range(6):
        out = t(dict(img=img, prior=img.copy(), prior_confidence=red_confidence(img)[..., None]))
        prior, conf = out["prior"], out["prior_confidence"]
        assert not np.array_equal(prior, img) and conf.shape == (24, 24, 1) and conf.dtype == np.float32
        red = red_confidence(prior)  # the warped prior rounds to uint8; its confidence stays float
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
    conf = red_confidence(img)[..., None]
    out = TRANSFORMS.build(dict(type="PriorAugment", warp=0.0, dropout_mode="pair"))(
        dict(img=img, prior=img.copy(), prior_confidence=conf.copy()))
    np.testing.assert_array_equal(out["prior_confidence"], conf)  # the kept view keeps its confidence
    assert out["prior_dropped_confidence"].shape == (16, 16, 1)
    assert float(out["prior_dropped_confidence"].max()) == 0.0
    plain = TRANSFORMS.build(dict(type="PriorAugment", warp=0.0, dropout_mode="pair"))(dict(img=img, prior=img))
    assert "prior_confidence" not in plain and "prior_dropped_confidence" not in plain
