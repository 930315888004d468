"""The prior transforms together in MMagic pipelines: the confidence stays with its prior through a training pipeline
and a random rotation."""
import random

import numpy as np

from tests.helpers.mmagic import CONF, red_confidence


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
        np.testing.assert_array_equal(conf[..., 0], red_confidence(res["prior"]))  # ... and its confidence with it
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
    out = TRANSFORMS.build(step)(dict(img=img, prior=img.copy(), prior_confidence=red_confidence(img)[..., None]))
    assert out["prior_confidence"].shape == (24, 24, 1)
    assert not np.array_equal(out["prior"], img)  # rotated
    np.testing.assert_allclose(out["prior_confidence"][..., 0], red_confidence(out["prior"]), atol=0.5 / 255 + 1e-6)
