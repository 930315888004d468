"""mmagic_plugins.transforms.paired_crop: the shared crop matches MMagic's and moves the prior and its confidence with
the images."""
import numpy as np

from tests.helpers.mmagic import red_confidence


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


def test_paired_crop_crops_the_confidence_with_the_prior(mm):
    from mmagic.registry import TRANSFORMS

    rng = np.random.default_rng(5)
    img = rng.integers(0, 255, (20, 24, 3)).astype(np.uint8)
    conf = red_confidence(img)[..., None]
    t = TRANSFORMS.build(dict(type="PriorPairedRandomCrop", gt_patch_size=8))
    for seed in range(5):
        np.random.seed(seed)
        out = t(dict(scale=1, img=img, gt=img.copy(), prior=img.copy(), prior_confidence=conf))
        assert out["prior_confidence"].shape == (8, 8, 1)
        np.testing.assert_array_equal(out["prior_confidence"][..., 0], red_confidence(out["prior"]))
    np.random.seed(0)
    plain = t(dict(scale=1, img=img, gt=img.copy(), prior=img.copy()))  # no confidence: none added
    assert "prior_confidence" not in plain
