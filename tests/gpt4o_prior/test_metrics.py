"""gpt4o_prior.metrics gives BasicSR 1.4.2's own numbers (calculate_psnr / calculate_ssim on BGR, as its
validation calls them) without importing BasicSR."""
import numpy as np
import pytest

import basicsr_plugins  # noqa: F401  (before basicsr: the torchvision alias BasicSR 1.4.2 needs)
from basicsr.metrics import calculate_psnr, calculate_ssim

from gpt4o_prior.metrics import psnr, ssim


def _pair(seed, h=37, w=52):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    noisy = np.clip(gt.astype(int) + rng.integers(-40, 41, gt.shape), 0, 255).astype(np.uint8)
    return noisy, gt


@pytest.mark.parametrize("crop_border", [0, 4])
@pytest.mark.parametrize("test_y_channel", [False, True])
def test_equal_to_basicsr(crop_border, test_y_channel):
    for seed in range(3):
        img, gt = _pair(seed)
        kw = dict(crop_border=crop_border, test_y_channel=test_y_channel)
        ours_p, ours_s = psnr(img, gt, **kw), ssim(img, gt, **kw)
        theirs_p = calculate_psnr(img[..., ::-1], gt[..., ::-1], crop_border, test_y_channel=test_y_channel)
        theirs_s = calculate_ssim(img[..., ::-1], gt[..., ::-1], crop_border, test_y_channel=test_y_channel)
        assert ours_p == pytest.approx(theirs_p, abs=1e-9)
        assert ours_s == pytest.approx(theirs_s, abs=1e-9)


def test_identical_images():
    img, _ = _pair(0)
    assert psnr(img, img) == calculate_psnr(img, img, 0) == float("inf")
    assert ssim(img, img) == pytest.approx(calculate_ssim(img, img, 0))
