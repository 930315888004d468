"""Tests for gpt4o_prior.augment: shared geometry stays aligned, prior-only perturbations behave as documented."""
import random

import numpy as np
import pytest
import torch

from gpt4o_prior import augment as A


def _img(h, w, c=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    return rng.random((h, w, c)).astype(dtype)


@pytest.mark.parametrize("rng_factory", [
    lambda: None, lambda: np.random.default_rng(3), lambda: np.random.RandomState(3), lambda: random.Random(3),
])
def test_paired_augment_keeps_triplet_aligned(rng_factory):
    np.random.seed(3)
    rng = rng_factory()
    for _ in range(10):
        lq = _img(12, 10, seed=np.random.randint(100))
        a, b, c = A.paired_augment(lq, lq.copy(), lq.copy(), patch_size=6, warp=0, dropout=0, rng=rng)
        assert a.shape == (6, 6, 3) and a.flags["C_CONTIGUOUS"]
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_paired_augment_scale_2_prior_follows_lq():
    lq = _img(8, 8)
    gt = np.repeat(np.repeat(lq, 2, axis=0), 2, axis=1)  # nearest-upsampled lq
    rng = np.random.default_rng(0)
    for _ in range(8):
        a, b, c = A.paired_augment(lq, gt, lq.copy(), patch_size=8, scale=2, warp=0, dropout=0, rng=rng)
        assert b.shape == (8, 8, 3) and a.shape == c.shape == (4, 4, 3)
        assert np.array_equal(b[::2, ::2], a) and np.array_equal(a, c)


def test_same_seed_same_result_and_different_seeds_differ():
    lq = _img(16, 16)
    r1 = A.paired_augment(lq, None, lq.copy(), patch_size=8, rng=np.random.default_rng(5), dropout=0.5, warp=1.0)
    r2 = A.paired_augment(lq, None, lq.copy(), patch_size=8, rng=np.random.default_rng(5), dropout=0.5, warp=1.0)
    assert np.array_equal(r1[0], r2[0]) and np.array_equal(r1[2], r2[2])


def test_crop_and_flip_match_basicsr_given_the_same_random_stream():
    import basicsr_plugins  # noqa: F401  (torchvision alias before basicsr)
    from basicsr.data.transforms import augment, paired_random_crop

    lq, gt = _img(10, 12, seed=1), _img(20, 24, seed=2)
    for seed in range(6):
        random.seed(seed)
        g_ref, l_ref = paired_random_crop(gt.copy(), lq.copy(), 8, 2)
        (g_ref, l_ref), status = augment([g_ref.copy(), l_ref.copy()], True, True, return_status=True)
        random.seed(seed)
        l_ours, g_ours, _ = A.paired_random_crop(lq, gt, None, patch_size=8, scale=2, rng=random)
        op = A.sample_flip_rot(rng=random)
        assert tuple(op) == tuple(status)
        assert np.array_equal(A.apply_flip_rot(l_ours, op), l_ref)
        assert np.array_equal(A.apply_flip_rot(g_ours, op), g_ref)


def test_flip_rot_numpy_and_torch_agree_and_undo_inverts():
    x = _img(5, 7)
    t = torch.from_numpy(x).permute(2, 0, 1)[None]  # (1, C, H, W)
    assert len(set(A.ALL_FLIP_ROTS)) == 8 and A.ALL_FLIP_ROTS[0] == A.FlipRot()
    for op in A.ALL_FLIP_ROTS:
        y = A.apply_flip_rot(x, op)
        ty = A.apply_flip_rot(t, op)
        assert np.array_equal(ty[0].permute(1, 2, 0).numpy(), y)
        assert np.array_equal(A.undo_flip_rot(y, op), x)
        assert torch.equal(A.undo_flip_rot(ty, op), t)
    assert x.shape == (5, 7, 3)  # input untouched


def test_warp_identity_shift_and_dtype():
    x = _img(9, 11, dtype=np.uint8)
    ident = A.random_affine((9, 11), max_shift=0, max_rotation=0, max_scale=0)
    assert np.array_equal(A.warp_affine(x, ident), x)
    shift = np.array([[1.0, 0, 2.0], [0, 1.0, 1.0]])  # sample 2 px right, 1 px down
    y = A.warp_affine(x, shift)
    assert y.dtype == np.uint8
    assert np.array_equal(y[:-1, :-2], x[1:, 2:])
    w = A.random_warp(x.astype(np.float32), max_shift=2, rng=np.random.default_rng(0))
    assert w.shape == x.shape and w.dtype == np.float32
    assert not np.array_equal(w, x)
    assert np.abs(w - x).mean() < 255  # still an image of the same range
    gray = A.random_warp(x[..., 0], rng=np.random.default_rng(0))
    assert gray.shape == (9, 11)


def test_warp_stays_small():
    x = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))[..., None]  # horizontal ramp
    rng = np.random.default_rng(0)
    for _ in range(10):
        m = A.random_affine((64, 64), rng=rng)
        # every output pixel samples within MAX_SHIFT + rotation/zoom displacement of itself
        ys, xs = np.mgrid[0:64, 0:64]
        sx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        assert np.abs(sx - xs).max() < A.MAX_SHIFT + 32 * (np.radians(A.MAX_ROTATION) + A.MAX_SCALE) * 1.5 + 1e-6


def test_prior_dropout_rate_and_fills():
    prior, lq = np.ones((4, 4, 3), np.float32), np.full((4, 4, 3), 0.25, np.float32)
    rng = np.random.default_rng(0)
    dropped = sum(A.prior_dropout(prior, p=0.1, fill="zeros", rng=rng).max() == 0 for _ in range(2000))
    assert 140 < dropped < 260
    assert np.array_equal(A.prior_dropout(prior, p=1.0, fill="input", lq=lq), lq)
    mean = A.prior_dropout(np.arange(12, dtype=np.float32).reshape(2, 2, 3), p=1.0, fill="mean")
    assert mean.tolist()[0][0] == [4.5, 5.5, 6.5]


def test_fill_none_means_no_prior_and_is_pair_modes_default():
    prior = np.ones((4, 4, 3), np.float32)
    assert A.prior_dropout(prior, p=1.0, fill="none") is None
    assert A.prior_dropout(prior, p=0.0, fill="none") is prior
    assert A.augment_prior(prior, dropout=1.0, fill="none", warp=1.0) is None
    lq, gt, out = A.paired_augment(prior, prior, prior, dropout=1.0, fill="none", warp=0)
    assert out is None and lq.shape == gt.shape == (4, 4, 3)
    assert A.default_dropout_fill("sample") == "input" and A.default_dropout_fill("pair") == "none"
    with pytest.raises(ValueError, match="dropout mode"):
        A.default_dropout_fill("batch")


def test_training_views_sample_mode_is_augment_prior_and_pair_adds_the_dropped_view():
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    prior = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    lq = np.zeros_like(prior)
    for _ in range(20):  # same random stream, same result as before the modes existed
        v = A.prior_training_views(prior, lq=lq, dropout=0.5, warp=0.5, rng=rng_a)
        want = A.augment_prior(prior, lq=lq, dropout=0.5, warp=0.5, rng=rng_b)
        assert np.array_equal(v.prior, want) and v.keep is None and v.dropped is None
    v = A.prior_training_views(prior, lq=lq, mode="pair", fill="input", warp=0.0)
    assert np.array_equal(v.prior, prior) and np.array_equal(v.dropped, lq) and v.dropped_keep is None
    v = A.prior_training_views(prior, lq=lq, dropout=1.0, fill="none", warp=0.0)
    assert v.keep == 0.0 and v.prior is prior and v.dropped is None


def test_augment_prior_defaults_are_the_documented_ones():
    import inspect

    sig = inspect.signature(A.augment_prior)
    assert sig.parameters["dropout"].default == A.PRIOR_DROPOUT == 0.1
    assert sig.parameters["warp"].default == A.WARP_PROB == 0.5
    assert sig.parameters["fill"].default == "input"


@pytest.mark.parametrize("call, match", [
    (lambda: A.prior_dropout(np.ones((2, 2, 3)), p=1.0, fill="noise"), "fill must be one of"),
    (lambda: A.prior_dropout(np.ones((2, 2, 3)), p=1.5), r"in \[0, 1\]"),
    (lambda: A.prior_dropout(np.ones((2, 2, 3)), p=1.0, fill="input"), "needs lq"),
    (lambda: A.paired_random_crop(np.ones((8, 8, 3)), None, np.ones((6, 8, 3)), patch_size=4), "prior"),
    (lambda: A.paired_random_crop(np.ones((8, 8, 3)), np.ones((8, 8, 3)), None, patch_size=4, scale=2), "gt"),
    (lambda: A.paired_random_crop(np.ones((8, 8, 3)), patch_size=16), "larger than the image"),
    (lambda: A.paired_augment(np.ones((4, 4, 3)), None, np.ones((8, 8, 3)), scale=2), "lq-sized prior"),
    (lambda: A.warp_affine(np.ones((4, 4)), np.eye(3)), r"\(2, 3\)"),
    (lambda: A.apply_flip_rot(np.ones(4), A.FlipRot()), "laid out"),
])
def test_errors_say_what_is_wrong(call, match):
    with pytest.raises(ValueError, match=match):
        call()
