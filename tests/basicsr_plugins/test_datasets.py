"""PriorPairedImageDataset / PriorSingleImageDataset: the prior moves with lq, is perturbed only in training,
and missing priors stop everything before training with a useful message."""
from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
import torch
from tests.helpers.basicsr_toy import CONF, ECHO, SET, base_opt

from basicsr_plugins.datasets import PriorPairedImageDataset, PriorSingleImageDataset, PriorsMissingError
from basicsr_plugins.prior_option import apply_prior_option


def _dataset_opt(toy, phase="train", **prior):
    opt = base_opt(toy, "ds")
    opt["prior"].update(prior)
    apply_prior_option(opt)
    ds = opt["datasets"][phase]
    ds["phase"], ds["scale"] = phase, 1
    return ds


def test_train_items_prior_cropped_flipped_rotated_like_lq(toy):
    ds = PriorPairedImageDataset(_dataset_opt(toy, set=ECHO, warp=0, dropout=0))
    seen_shapes = set()
    for seed in range(12):
        random.seed(seed)
        np.random.seed(seed)
        item = ds[seed % len(ds)]
        assert item["lq"].shape == item["gt"].shape == item["prior"].shape == (3, 32, 32)
        assert torch.equal(item["prior"], item["lq"])  # the echo prior IS the input: same crop, flip, rotation
        seen_shapes.add(item["lq_path"])
    assert len(seen_shapes) == 4


def test_lq_and_gt_are_exactly_what_paired_image_dataset_gives(toy):
    from basicsr.data.paired_image_dataset import PairedImageDataset

    opt = _dataset_opt(toy, warp=1.0, dropout=0.5)
    ours, theirs = PriorPairedImageDataset(dict(opt, io_backend={"type": "disk"})), PairedImageDataset(
        dict(opt, io_backend={"type": "disk"}))
    for seed in range(4):
        random.seed(seed)
        a = ours[seed]
        random.seed(seed)
        b = theirs[seed]
        assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])


def test_training_perturbs_the_prior_validation_does_not(toy):
    ds = PriorPairedImageDataset(_dataset_opt(toy, set=ECHO, warp=1.0, dropout=0.0, max_shift=3))
    np.random.seed(0)
    random.seed(0)
    diffs = [float((it["prior"] - it["lq"]).abs().mean()) for it in (ds[i % 4] for i in range(6))]
    assert all(d > 0 for d in diffs) and max(diffs) < 0.2  # warped a little, still the same picture

    zeros = PriorPairedImageDataset(_dataset_opt(toy, set=ECHO, warp=0, dropout=1.0, dropout_fill="zeros"))
    assert float(zeros[0]["prior"].abs().max()) == 0.0

    val = PriorPairedImageDataset(_dataset_opt(toy, "val", set=ECHO, warp=1.0, dropout=1.0, dropout_fill="zeros"))
    item = val[0]
    assert item["lq"].shape == (3, 40, 40) and torch.equal(item["prior"], item["lq"])


@pytest.mark.parametrize("phase", ["train", "val"])
def test_mean_std_and_y_channel_apply_to_the_prior_too(toy, phase):
    opt = _dataset_opt(toy, phase, set=ECHO, warp=0, dropout=0)
    opt.update(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    item = PriorPairedImageDataset(opt)[1]
    assert float(item["lq"].min()) < 0 and torch.equal(item["prior"], item["lq"])
    opt = _dataset_opt(toy, phase, set=ECHO, warp=0, dropout=0)
    opt.update(color="y")
    item = PriorPairedImageDataset(opt)[1]
    assert item["prior"].shape[0] == item["lq"].shape[0] == 1
    assert torch.equal(item["prior"], item["lq"])


def test_single_image_dataset_twin(toy):
    opt = {"name": "nogt", "type": "SingleImageDataset", "dataroot_lq": str(toy / "data/val/lq"),
           "io_backend": {"type": "disk"}, "phase": "test", "prior_cache": str(toy / "priors"), "prior_set": ECHO}
    ds = PriorSingleImageDataset(opt)
    item = ds[0]
    assert set(item) == {"lq", "prior", "prior_confidence", "lq_path"} and torch.equal(item["prior"], item["lq"])
    assert torch.equal(item["prior_confidence"], torch.ones(1, 40, 40))  # cached without a confidence: ones
    item = PriorSingleImageDataset(dict(opt, prior_set=CONF, io_backend={"type": "disk"}))[1]
    assert torch.equal(item["prior_confidence"], item["lq"][:1])


def test_missing_priors_fail_at_construction_listing_files_and_the_command(toy, tmp_path):
    lq_dir = tmp_path / "lq"
    shutil.copytree(toy / "data/train/lq", lq_dir)
    (lq_dir / "new.png").write_bytes((lq_dir / "img0.png").read_bytes()[:-12] + b"x" * 12)  # different bytes
    opt = _dataset_opt(toy)
    opt["dataroot_lq"] = opt["dataroot_gt"] = str(lq_dir)
    with pytest.raises(PriorsMissingError) as err:
        PriorPairedImageDataset(opt)
    msg = str(err.value)
    assert "1 of 5 inputs" in msg and "new.png" in msg and SET in msg
    assert "gpt4o-prior generate" in msg and "fallback: input" in msg

    opt["prior_fallback"] = "input"  # explicit fallback: no error, the input stands in for the prior
    PriorPairedImageDataset(opt)


def test_a_fallback_prior_is_trusted_nowhere(toy, tmp_path):
    import cv2

    lq_dir = tmp_path / "lq"
    lq_dir.mkdir()
    cv2.imwrite(str(lq_dir / "new.png"), np.full((40, 40, 3), 90, np.uint8))  # an input the cache has never seen
    for fallback in ("input", "zeros"):
        opt = _dataset_opt(toy, "val", set=CONF, fallback=fallback)
        opt["dataroot_lq"] = opt["dataroot_gt"] = str(lq_dir)
        item = PriorPairedImageDataset(opt)[0]
        assert item["prior_confidence"].shape == (1, 40, 40) and float(item["prior_confidence"].abs().max()) == 0


def test_unknown_set_lmdb_and_missing_keys_are_refused(toy, tmp_path):
    with pytest.raises(KeyError, match="prior_set / prior.set = 'nope'"):
        PriorPairedImageDataset(_dataset_opt(toy, set="nope"))
    opt = _dataset_opt(toy)
    lmdb = tmp_path / "toy.lmdb"
    lmdb.mkdir()
    (lmdb / "meta_info.txt").write_text("img0.png (40,40,3) 1\n")
    opt["io_backend"] = {"type": "lmdb"}
    opt["dataroot_lq"] = opt["dataroot_gt"] = str(lmdb)
    with pytest.raises(ValueError, match="io_backend"):
        PriorPairedImageDataset(opt)
    opt = _dataset_opt(toy)
    opt.pop("prior_cache")
    from basicsr_plugins.prior_option import PriorOptionError

    with pytest.raises(PriorOptionError, match="prior_cache"):
        PriorPairedImageDataset(opt)


def test_dropout_mode_pair_yields_the_prior_and_its_fill(toy):
    ds = PriorPairedImageDataset(_dataset_opt(toy, set=ECHO, warp=0, dropout_mode="pair", dropout_fill="zeros"))
    for seed in range(6):
        np.random.seed(seed)
        random.seed(seed)
        item = ds[seed % 4]
        assert torch.equal(item["prior"], item["lq"])  # never dropped in pair mode
        assert item["prior_dropped"].shape == item["prior"].shape and float(item["prior_dropped"].abs().max()) == 0
    val = PriorPairedImageDataset(_dataset_opt(toy, "val", set=ECHO, dropout_mode="pair"))
    assert "prior_dropped" not in val[0]  # validation sees the prior only


def test_dropout_fill_none_flags_samples_and_is_the_pair_default(toy):
    ds = PriorPairedImageDataset(_dataset_opt(toy, set=ECHO, warp=0, dropout=1.0, dropout_fill="none"))
    item = ds[0]
    assert float(item["prior_keep"]) == 0.0 and torch.equal(item["prior"], item["lq"])  # a stand-in, flagged
    assert "prior_dropped" not in item
    ds = PriorPairedImageDataset(_dataset_opt(toy, set=ECHO, warp=0, dropout_mode="pair"))
    item = ds[1]
    assert float(item["prior_keep"]) == 1.0 and float(item["prior_dropped_keep"]) == 0.0
    assert item["prior_dropped"].shape == item["prior"].shape


@pytest.mark.parametrize("prior, match", [
    (dict(dropout_mode="pair", dropout=0.3), "prior.dropout' \\(0.3\\) has no meaning"),
    (dict(dropout_mode="batch"), "'prior.dropout_mode' must be one of"),
])
def test_bad_dropout_mode_is_named(toy, prior, match):
    from basicsr_plugins.prior_option import PriorOptionError

    with pytest.raises(PriorOptionError, match=match):
        PriorPairedImageDataset(_dataset_opt(toy, **prior))


# ------------------------------------------------------------------------------------------ confidence
def test_train_items_carry_the_confidence_cropped_flipped_rotated_like_the_prior(toy):
    ds = PriorPairedImageDataset(_dataset_opt(toy, set=CONF, warp=0, dropout=0))
    items = []
    for seed in range(12):
        random.seed(seed)
        np.random.seed(seed)
        item = ds[seed % len(ds)]
        assert item["prior_confidence"].shape == (1, 32, 32) and item["prior_confidence"].dtype == torch.float32
        # the cache's confidence is the input's red channel: moved like lq, it equals lq's red channel
        assert torch.equal(item["prior_confidence"], item["lq"][:1])
        items.append(item)
    batch = torch.utils.data.default_collate(items[:2])
    assert batch["prior_confidence"].shape == (2, 1, 32, 32)
    val = PriorPairedImageDataset(_dataset_opt(toy, "val", set=CONF, warp=1.0, dropout=1.0))[0]
    assert torch.equal(val["prior_confidence"], val["lq"][:1])  # validation: the cache's confidence, untouched


def test_the_confidence_is_warped_with_the_prior_and_zero_where_the_warp_invents(toy):
    ds = PriorPairedImageDataset(_dataset_opt(toy, set=CONF, warp=1.0, dropout=0.0, max_shift=3))
    np.random.seed(1)
    random.seed(1)
    for i in range(6):
        item = ds[i % 4]
        conf, red = item["prior_confidence"][0], item["prior"][0]  # the echo prior's red channel: the confidence
        assert not torch.equal(item["prior"], item["lq"])  # warped
        torch.testing.assert_close(conf[5:-5, 5:-5], red[5:-5, 5:-5], atol=1e-5, rtol=0)
        assert bool((conf <= red + 1e-5).all())  # zero-filled outside the frame, never above the prior there


def test_dropped_priors_take_their_confidence_with_them(toy):
    for fill in ("zeros", "input", "none"):
        item = PriorPairedImageDataset(_dataset_opt(toy, set=CONF, warp=0, dropout=1.0, dropout_fill=fill))[0]
        assert float(item["prior_confidence"].abs().max()) == 0
    ds = PriorPairedImageDataset(_dataset_opt(toy, set=CONF, warp=0, dropout_mode="pair"))
    item = ds[2]
    assert torch.equal(item["prior_confidence"], item["lq"][:1])  # the kept view keeps its confidence
    assert item["prior_dropped_confidence"].shape == (1, 32, 32)
    assert float(item["prior_dropped_confidence"].abs().max()) == 0


def test_old_caches_give_ones_and_confidence_false_gives_none(toy):
    item = PriorPairedImageDataset(_dataset_opt(toy, set=ECHO, warp=0, dropout=0))[0]
    assert torch.equal(item["prior_confidence"], torch.ones(1, 32, 32))  # stored without one: trusted everywhere
    for phase in ("train", "val"):
        item = PriorPairedImageDataset(_dataset_opt(toy, phase, set=CONF, confidence=False, dropout_mode="pair"))[0]
        assert "prior_confidence" not in item and "prior_dropped_confidence" not in item


def test_a_non_bool_confidence_option_is_named(toy):
    from basicsr_plugins.prior_option import PriorOptionError, apply_prior_option

    opt = _dataset_opt(toy)
    opt["prior_confidence"] = "yes"  # written in the dataset itself
    with pytest.raises(PriorOptionError, match="option 'prior_confidence' must be true or false, got 'yes'"):
        PriorPairedImageDataset(opt)
    opt = base_opt(toy, "bad")
    opt["prior"]["confidence"] = 1
    with pytest.raises(PriorOptionError, match="'prior.confidence' must be true or false, got 1"):
        apply_prior_option(opt)
