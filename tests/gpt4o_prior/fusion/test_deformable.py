"""The deformable block's own parts: offsets and masks, the resampling, its options and its lazy torchvision."""
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from gpt4o_prior.fusion import DeformableFusion, create_fusion, deformable_offsets, deformable_resample


def test_starts_as_a_plain_convolution_of_the_prior():
    block = DeformableFusion(8, 4)
    feat, prior = torch.randn(2, 8, 9, 7), torch.randn(2, 4, 9, 7)
    offset, mask = block.offsets(feat, prior)
    assert offset.shape == (2, 18, 9, 7) and mask.shape == (2, 9, 9, 7)
    assert torch.equal(offset, torch.zeros_like(offset)) and torch.equal(mask, torch.ones_like(mask))
    aligned = deformable_resample(prior, offset, mask, block.sample.weight, block.sample.bias)
    torch.testing.assert_close(aligned, block.sample(F.pad(prior, (1, 1, 1, 1))), rtol=1e-5, atol=1e-5)


def test_offsets_are_bounded_by_max_offset():
    block = DeformableFusion(8, 4, max_offset=3.0)
    with torch.no_grad():
        for p in block.offset_head.parameters():
            p.normal_(0, 5.0)
    offset, mask = block.offsets(torch.randn(1, 8, 6, 6), torch.randn(1, 4, 6, 6))
    assert offset.abs().max() <= 3.0 and offset.abs().max() > 1.0
    assert mask.min() >= 0 and mask.max() <= 2
    raw = torch.full((1, 27, 2, 2), 50.0)
    assert deformable_offsets(raw, 3, max_offset=None)[0].max() == 50.0  # unbounded on request


def test_resample_with_a_whole_pixel_offset_is_a_shift():
    x, w = torch.randn(1, 3, 10, 10), torch.randn(4, 3, 3, 3)
    raw = torch.zeros(1, 27, 10, 10)
    raw[:, 1:18:2] = 2.0  # dx of every tap (the offsets' layout is (dy, dx) per tap)
    offset, mask = deformable_offsets(raw, 3, max_offset=None)  # unbounded: exactly 2 pixels
    out = deformable_resample(x, offset, mask, w)
    want = F.conv2d(x, w, padding=1)
    torch.testing.assert_close(out[..., :, :6], want[..., :, 2:8], rtol=1e-5, atol=1e-5)  # reads 2 px to the right


def test_options_and_their_errors():
    block = create_fusion("deformable", 16, 8, kernel_size=5, offset_groups=4, max_offset=None, hidden=24)
    feat = torch.randn(1, 16, 7, 7)
    assert torch.equal(block(feat, prior=torch.randn(1, 8, 7, 7)), feat)
    assert "kernel_size=5, offset_groups=4, max_offset=None" in repr(block)
    assert block.offsets(feat, torch.randn(1, 8, 7, 7))[0].shape == (1, 2 * 4 * 25, 7, 7)
    with pytest.raises(ValueError, match="kernel_size must be a positive odd integer"):
        DeformableFusion(8, 4, kernel_size=4)
    with pytest.raises(ValueError, match="offset_groups must be a positive integer dividing prior_channels=4"):
        DeformableFusion(8, 4, offset_groups=3)
    with pytest.raises(ValueError, match="max_offset must be positive"):
        DeformableFusion(8, 4, max_offset=0)
    with pytest.raises(ValueError, match=r"raw must have shape \(B, 27, H, W\)"):
        deformable_offsets(torch.zeros(1, 18, 4, 4), 3)


def test_float64():
    block = DeformableFusion(8, 4).double()
    feat = torch.randn(1, 8, 5, 5, dtype=torch.float64)
    assert block(feat, prior=torch.randn(1, 4, 5, 5)).dtype == torch.float64


def test_package_import_does_not_load_torchvision():
    code = "import sys, gpt4o_prior.fusion; print('torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("groups,k,hw", [(1, 3, (9, 7)), (2, 3, (1, 3)), (4, 5, (6, 6))])
def test_grid_sample_impl_matches_torchvision(groups, k, hw):
    x, w, b = torch.randn(2, 8, *hw, dtype=torch.float64), torch.randn(6, 8, k, k, dtype=torch.float64), \
        torch.randn(6, dtype=torch.float64)
    offset, mask = deformable_offsets(torch.randn(2, 3 * groups * k * k, *hw, dtype=torch.float64) * 3, k,
                                      offset_groups=groups, max_offset=4.0)
    args = [t.requires_grad_() for t in (x, offset, mask, w, b)]
    want = deformable_resample(*args)
    got = deformable_resample(*args, impl="grid_sample")
    torch.testing.assert_close(got, want)
    g = torch.randn_like(want)
    grads_want = torch.autograd.grad(want, args, g)
    grads_got = torch.autograd.grad(got, args, g)
    for name, a, e in zip(["x", "offset", "mask", "weight", "bias"], grads_got, grads_want):
        torch.testing.assert_close(a, e, msg=name)


def test_grid_sample_block_equals_torchvision_block():
    a = DeformableFusion(8, 4)
    b = DeformableFusion(8, 4, impl="grid_sample")
    with torch.no_grad():
        for q in a.parameters():
            q.normal_(0, 0.3)
    b.load_state_dict(a.state_dict())
    feat, prior = torch.randn(2, 8, 9, 7), torch.randn(2, 4, 9, 7)
    torch.testing.assert_close(b(feat, prior=prior), a(feat, prior=prior), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="impl must be one of 'auto', 'torchvision', 'grid_sample'"):
        DeformableFusion(8, 4, impl="cuda")


def test_auto_impl_uses_grid_sample_on_the_cpu():
    """The default picks the fast CPU path; its numbers are those of both explicit impls."""
    torch.manual_seed(0)
    auto = DeformableFusion(8, 4)
    assert auto.impl == "auto"
    for p in auto.parameters():  # leave the zero init, so that offsets and the update are not trivial
        torch.nn.init.normal_(p, std=0.1)
    tv = DeformableFusion(8, 4, impl="torchvision")
    gs = DeformableFusion(8, 4, impl="grid_sample")
    tv.load_state_dict(auto.state_dict())
    gs.load_state_dict(auto.state_dict())
    feat, prior = torch.randn(2, 8, 9, 7), torch.randn(2, 4, 9, 7)
    out = auto(feat, prior=prior)
    assert torch.equal(out, gs(feat, prior=prior))
    assert torch.allclose(out, tv(feat, prior=prior), atol=1e-4)
