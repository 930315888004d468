"""Classical priors: they improve on the degraded input, and the provider keys by its settings."""
import numpy as np
import pytest

from gpt4o_prior.data import bundled_images, degrade, read_rgb
from gpt4o_prior.providers import get_provider
from gpt4o_prior.providers.classical import ClassicalProvider, dehaze_dcp, derain_filter, enhance_retinex


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


@pytest.fixture(scope="module")
def clean():
    return [read_rgb(p)[::2, ::2].copy() for p in bundled_images("val")[:4]]  # 64 x 64


@pytest.mark.parametrize("task,fn", [("dehaze", dehaze_dcp), ("derain", derain_filter),
                                     ("lowlight", enhance_retinex)])
def test_methods_improve_psnr_on_synthetic_degradations(clean, task, fn):
    before, after = [], []
    for i, gt in enumerate(clean):
        lq = degrade(gt, task, seed=i)
        out = fn(lq)
        assert out.shape == lq.shape and out.dtype == np.uint8
        before.append(psnr(lq, gt))
        after.append(psnr(out, gt))
    assert np.mean(after) > np.mean(before) + 0.5, (task, before, after)


def test_dcp_restores_contrast_and_handles_tiny_images():
    hazy = np.full((8, 8, 3), 210, np.uint8)
    hazy[2:6, 2:6] = 140
    out = dehaze_dcp(hazy)
    assert out[4, 4].mean() < hazy[4, 4].mean()
    assert dehaze_dcp(np.zeros((3, 3, 3), np.uint8)).shape == (3, 3, 3)
    assert enhance_retinex(np.zeros((1, 1, 3), np.uint8)).shape == (1, 1, 3)
    assert derain_filter(np.zeros((2, 2, 3), np.uint8)).shape == (2, 2, 3)


def test_provider_interface():
    p = get_provider("classical", task="derain")
    assert isinstance(p, ClassicalProvider) and p.label == "classical" and p.name == "classical"
    fields = p.set_fields()
    assert fields["label"] == "classical" and fields["model"] is None and fields["prompt_id"] == "derain"
    k1 = ClassicalProvider(task="dehaze").key_fields()
    k2 = ClassicalProvider(task="dehaze", omega=0.8).key_fields()
    k3 = ClassicalProvider(task="lowlight").key_fields()
    assert k1 != k2 and k1 != k3 and k1["provider"] == "classical"
    img = np.full((8, 8, 3), 60, np.uint8)
    assert np.array_equal(p.make(img), derain_filter(img))
    with pytest.raises(ValueError, match="no classical method for task 'deblur'"):
        ClassicalProvider(task="deblur")
    with pytest.raises(TypeError, match="bad setting"):
        ClassicalProvider(task="dehaze", omgea=0.9)
    with pytest.raises(ValueError, match=r"image must be an \(H, W, 3\)"):
        p.make(np.zeros((8, 8), np.uint8))
