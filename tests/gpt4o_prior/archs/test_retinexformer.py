"""Retinexformer: any input size, gradients, a tiny overfit, attach points, errors."""
import pytest
import torch

from gpt4o_prior.archs import Retinexformer

from tests.helpers.archs import hooked_shapes, overfit

TINY = dict(n_feat=8, stage=1, num_blocks=[1, 1, 1])


@pytest.mark.parametrize("hw", [(16, 16), (13, 7), (1, 2), (21, 30)])
def test_any_size(hw):
    x = torch.rand(2, 3, *hw)
    assert Retinexformer(**TINY)(x).shape == x.shape


def test_two_stages():
    net = Retinexformer(n_feat=8, stage=2, num_blocks=[1, 1, 1])
    assert net(torch.rand(1, 3, 9, 9)).shape == (1, 3, 9, 9)
    assert net.prior_attach_points[0] == "body.1.denoiser.encoder_layers.0.0"


def test_backward_reaches_every_parameter():
    net = Retinexformer(**TINY)
    net(torch.rand(1, 3, 11, 10)).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_overfit_one_image(pair):
    x, gt = pair
    first, last = overfit(Retinexformer(**TINY), x, gt)
    assert last < 0.5 * first


def test_attach_points_one_per_resolution():
    net = Retinexformer(**TINY)
    assert net.prior_attach_points == Retinexformer.prior_attach_points  # default stage=1
    shapes = hooked_shapes(net, net.prior_attach_points, torch.rand(1, 3, 16, 16))
    assert [s[-1] for s in shapes.values()] == [16, 8, 4, 8, 16]
    assert [s[1] for s in shapes.values()] == [8, 16, 32, 16, 8]


def test_errors():
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3, H, W\)"):
        Retinexformer(**TINY)(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="divisible by in_channels"):
        Retinexformer(n_feat=31)
    with pytest.raises(ValueError, match="out_channels"):
        Retinexformer(**TINY, out_channels=1)
    with pytest.raises(ValueError, match="level \\+ 1"):
        Retinexformer(n_feat=8, num_blocks=[1, 1])
