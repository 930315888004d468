"""Restormer: any input size, dual-pixel and grey variants, gradients, a tiny overfit, attach points, errors."""
import pytest
import torch

from gpt4o_prior.archs import MDTA, Restormer, RestormerLayerNorm

from tests.helpers.archs import hooked_shapes, overfit

TINY = dict(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1, heads=[1, 2, 2, 4])


@pytest.mark.parametrize("hw", [(16, 16), (13, 7), (2, 3), (27, 18)])
def test_any_size(hw):
    x = torch.rand(2, 3, *hw)
    assert Restormer(**TINY)(x).shape == x.shape


@pytest.mark.parametrize("kw, cin, cout", [
    (dict(inp_channels=6, dual_pixel_task=True), 6, 3),
    (dict(inp_channels=1, out_channels=1, LayerNorm_type="BiasFree"), 1, 1),
    (dict(bias=True), 3, 3),
])
def test_variants(kw, cin, cout):
    net = Restormer(**TINY, **kw)
    assert net(torch.rand(1, cin, 9, 12)).shape == (1, cout, 9, 12)


def test_odd_sizes_match_the_official_test_script_padding():
    # the official scripts reflect-pad to a multiple of 8 outside the model and crop the result
    net = Restormer(**TINY).eval()
    x = torch.rand(1, 3, 13, 7)
    with torch.no_grad():
        ref = net(torch.nn.functional.pad(x, (0, 1, 0, 3), mode="reflect"))[..., :13, :7]
        torch.testing.assert_close(net(x), ref)


def test_backward_reaches_every_parameter():
    net = Restormer(**TINY, bias=True)
    net(torch.rand(1, 3, 11, 10)).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_overfit_one_image(pair):
    x, gt = pair
    first, last = overfit(Restormer(**TINY), x, gt)
    assert last < 0.5 * first


def test_attach_points_one_per_resolution():
    net = Restormer(**TINY)
    shapes = hooked_shapes(net, net.prior_attach_points, torch.rand(1, 3, 16, 16))
    assert [s[-1] for s in shapes.values()] == [16, 8, 4, 2, 4, 8, 16]
    assert [s[1] for s in shapes.values()] == [8, 16, 32, 64, 32, 16, 16]


def test_layer_norm_types():
    x = torch.randn(2, 8, 3, 3) + 5
    with_bias = RestormerLayerNorm(8, "WithBias")(x)
    torch.testing.assert_close(with_bias.mean(1), torch.zeros(2, 3, 3), atol=1e-5, rtol=0)
    assert RestormerLayerNorm(8, "BiasFree")(x).mean() > 1  # no centring
    assert [n for n, _ in RestormerLayerNorm(8, "BiasFree").named_parameters()] == ["body.weight"]


def test_errors():
    with pytest.raises(ValueError, match=r"inp_img must have shape \(B, 3, H, W\)"):
        Restormer(**TINY)(torch.rand(1, 6, 8, 8))
    with pytest.raises(ValueError, match="LayerNorm_type"):
        Restormer(**TINY, LayerNorm_type="withbias")
    with pytest.raises(ValueError, match="out_channels"):
        Restormer(**TINY, inp_channels=6)
    with pytest.raises(ValueError, match="divisible"):
        MDTA(10, num_heads=4, bias=False)
