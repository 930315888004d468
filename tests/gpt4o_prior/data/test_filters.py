"""gpt4o_prior.data.filters: the numpy filters against brute force."""
import numpy as np

from gpt4o_prior.data.filters import box_filter, gaussian_blur, guided_filter, median_filter_1d, min_filter


def _brute(x, r, fn):
    p = np.pad(x, r, mode="reflect")
    return np.array([[fn(p[i:i + 2 * r + 1, j:j + 2 * r + 1]) for j in range(x.shape[1])]
                     for i in range(x.shape[0])])


def test_box_and_min_filters_match_brute_force():
    x = np.random.default_rng(0).random((9, 11))
    for r in (1, 2, 3):
        assert np.allclose(box_filter(x, r), _brute(x, r, np.mean))
        assert np.allclose(min_filter(x, r), _brute(x, r, np.min))
    assert box_filter(np.random.default_rng(1).random((6, 7, 3)), 2).shape == (6, 7, 3)


def test_median_gaussian_and_guided():
    x = np.zeros((7, 7)); x[:, 3] = 1.0  # a one-pixel vertical line
    assert median_filter_1d(x, 1, axis=1).max() == 0.0  # removed across it
    assert median_filter_1d(x, 1, axis=0)[:, 3].min() == 1.0  # kept along it
    noisy = np.random.default_rng(0).random((32, 32))
    assert gaussian_blur(noisy, 2.0).std() < 0.5 * noisy.std()
    step = np.zeros((16, 16)); step[:, 8:] = 1.0
    out = guided_filter(step, step + np.random.default_rng(1).normal(0, 0.05, step.shape), 3, 1e-3)
    assert abs(out[:, :6].mean()) < 0.05 and abs(out[:, 10:].mean() - 1) < 0.05  # edge preserved
