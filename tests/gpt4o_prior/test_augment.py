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


# ------------------------------------------------------------------------------------------ confidence
def _prior_with_confidence(h, w, seed=0):
    """A float prior whose channel 0 is its confidence * 255, so the two can be compared after any transform."""
    rng = np.random.default_rng(seed)
    conf = rng.random((h, w)).astype(np.float32)
    prior = np.concatenate([conf[..., None] * 255, rng.random((h, w, 2)).astype(np.float32) * 255], axis=-1)
    return prior, conf


@pytest.mark.parametrize("rng_factory", [lambda: np.random.default_rng(4), lambda: random.Random(4)])
def test_confidence_is_cropped_flipped_and_rotated_with_the_prior(rng_factory):
    rng = rng_factory()
    prior, conf = _prior_with_confidence(14, 11)
    lq = prior.copy()
    for _ in range(12):
        a, b, c, k = A.paired_augment(lq, None, prior, patch_size=6, warp=0, dropout=0, rng=rng, confidence=conf)
        assert k.shape == (6, 6) and k.dtype == np.float32 and k.flags["C_CONTIGUOUS"]
        assert np.array_equal(c[..., 0], k * 255) and np.array_equal(a, c)


def test_confidence_keeps_the_prior_s_size_with_scale_2():
    lq, _ = _prior_with_confidence(8, 8)
    gt = np.repeat(np.repeat(lq, 2, axis=0), 2, axis=1)
    for prior in (lq, gt):  # an lq-sized prior, then a gt-sized one: the confidence follows the prior
        conf = prior[..., 0] / 255
        a, b, c, k = A.paired_random_crop(lq, gt, prior, patch_size=8, scale=2, rng=np.random.default_rng(1),
                                          confidence=conf)
        assert k.shape == c.shape[:2] and np.array_equal(c[..., 0], k * 255)


def test_the_random_stream_is_the_same_with_and_without_confidence():
    prior, conf = _prior_with_confidence(16, 16)
    for seed in range(8):
        plain = A.paired_augment(prior, prior, prior, patch_size=10, warp=0.5, dropout=0.3,
                                 rng=np.random.default_rng(seed))
        with_conf = A.paired_augment(prior, prior, prior, patch_size=10, warp=0.5, dropout=0.3,
                                     rng=np.random.default_rng(seed), confidence=conf)
        assert len(plain) == 3 and len(with_conf) == 4
        assert all(np.array_equal(x, y) for x, y in zip(plain, with_conf[:3]))


def test_warped_confidence_follows_the_prior_and_is_zero_outside_the_frame():
    prior, conf = _prior_with_confidence(9, 12, seed=2)
    shift = np.array([[1.0, 0, 2.0], [0, 1.0, 1.0]])  # sample 2 px right, 1 px down
    warped, wconf = A.warp_affine(prior, shift), A.warp_confidence(conf, shift)
    assert np.allclose(wconf[:-1, :-2], conf[1:, 2:]) and np.allclose(warped[:-1, :-2, 0], wconf[:-1, :-2] * 255)
    assert wconf[-1].max() == 0 and wconf[:, -2:].max() == 0  # border fill: invented, trusted nowhere
    assert warped[:, -2:, 0].min() > 0  # (while the prior repeats its border there)
    rng = np.random.default_rng(3)
    for _ in range(10):  # random warps: the same affine for both
        w, k = A.random_warp(prior, rng=rng, confidence=conf)
        assert k.shape == conf.shape and 0 <= k.min() and k.max() <= 1
        assert np.all(k * 255 <= w[..., 0] + 1e-3)  # zero-filled outside: never above the prior's channel
        assert np.allclose(k[3:-3, 3:-3] * 255, w[3:-3, 3:-3, 0], atol=1e-3)  # inside: exactly the prior's warp
    w1 = A.random_warp(prior, rng=np.random.default_rng(7))
    w2, _ = A.random_warp(prior, rng=np.random.default_rng(7), confidence=conf[..., None])  # (H, W, 1) is fine
    assert np.array_equal(w1, w2)


def test_training_warps_move_the_confidence_with_the_prior():
    prior, conf = _prior_with_confidence(16, 16, seed=5)
    rng = np.random.default_rng(0)
    for _ in range(6):
        v = A.prior_training_views(prior, lq=prior, warp=1.0, dropout=0.0, rng=rng, confidence=conf)
        assert np.allclose(v.confidence[4:-4, 4:-4] * 255, v.prior[4:-4, 4:-4, 0], atol=1e-3)
        assert not np.array_equal(v.confidence, conf)  # warped, as the prior was


@pytest.mark.parametrize("fill", ["input", "zeros", "mean"])
def test_a_dropped_prior_s_confidence_is_zero(fill):
    prior, conf = _prior_with_confidence(4, 4)
    lq = np.full_like(prior, 7)
    kept, kept_conf = A.prior_dropout(prior, p=0.0, fill=fill, lq=lq, confidence=conf)
    assert kept is prior and kept_conf is conf
    dropped, dropped_conf = A.prior_dropout(prior, p=1.0, fill=fill, lq=lq, confidence=conf)
    assert dropped_conf.shape == conf.shape and dropped_conf.max() == 0
    assert np.array_equal(dropped, A.prior_dropout(prior, p=1.0, fill=fill, lq=lq))  # the stand-in is unchanged
    out, out_conf = A.augment_prior(prior, lq=lq, dropout=1.0, fill=fill, warp=0.0, confidence=conf)
    assert out_conf.max() == 0


def test_fill_none_drops_the_confidence_and_views_carry_zeros_with_keep_0():
    prior, conf = _prior_with_confidence(4, 4)
    assert A.prior_dropout(prior, p=1.0, fill="none", confidence=conf) == (None, None)
    assert A.augment_prior(prior, dropout=1.0, fill="none", warp=1.0, confidence=conf) == (None, None)
    lq, gt, out, k = A.paired_augment(prior, prior, prior, dropout=1.0, fill="none", warp=0, confidence=conf)
    assert out is None and k is None
    v = A.prior_training_views(prior, lq=prior, dropout=1.0, fill="none", warp=0.0, confidence=conf)
    assert v.keep == 0.0 and v.prior is prior and v.confidence.max() == 0 and v.dropped_confidence is None
    v = A.prior_training_views(prior, lq=prior, mode="pair", warp=0.0, confidence=conf)  # fill none
    assert v.keep == 1.0 and v.dropped_keep == 0.0
    assert np.array_equal(v.confidence, conf) and v.dropped_confidence.max() == 0
    v = A.prior_training_views(prior, lq=np.zeros_like(prior), mode="pair", fill="input", warp=0.0,
                               confidence=conf)
    assert np.array_equal(v.dropped, np.zeros_like(prior)) and v.dropped_confidence.max() == 0
    plain = A.prior_training_views(prior, lq=prior, mode="pair", warp=0.0)
    assert plain.confidence is None and plain.dropped_confidence is None  # no confidence given: none comes back


@pytest.mark.parametrize("call, match", [
    (lambda: A.paired_augment(np.ones((4, 4, 3)), None, None, confidence=np.ones((4, 4))), "without a prior"),
    (lambda: A.paired_random_crop(np.ones((8, 8, 3)), None, np.ones((8, 8, 3)), patch_size=4,
                                  confidence=np.ones((8, 6))), r"prior's size"),
    (lambda: A.prior_dropout(np.ones((4, 4, 3)), confidence=np.ones((4, 4), np.uint8)), "float"),
    (lambda: A.random_warp(np.ones((4, 4, 3)), confidence=np.ones((4, 4, 2))), r"\(H, W, 1\)"),
    (lambda: A.warp_affine(np.ones((4, 4)), np.zeros((2, 3)), border="reflect"), "border"),
])
def test_confidence_errors_say_what_is_wrong(call, match):
    with pytest.raises(ValueError, match=match):
        call()
