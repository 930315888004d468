"""The prior encoder: multi-scale features, odd sizes, gradients, nearest level, optional timm backbone."""
import pytest
import torch

from gpt4o_prior.encoder import PriorEncoder, nearest_level


@pytest.mark.parametrize("hw", [(32, 32), (13, 10), (1, 1)])
def test_pyramid_shapes(hw):
    enc = PriorEncoder(levels=4)
    feats = enc(torch.rand(2, 3, *hw))
    assert [f.shape[1] for f in feats] == enc.channels == [16, 32, 64, 128]
    assert enc.strides == [1, 2, 4, 8]
    h, w = hw
    for f, s in zip(feats, enc.strides):
        assert f.shape[-2:] == (-(-h // s), -(-w // s))  # ceil(H / stride): as hosts that pad and halve


def test_custom_widths_and_single_level():
    enc = PriorEncoder(in_channels=1, widths=[4, 8])
    assert enc.channels == [4, 8] and enc.strides == [1, 2]
    assert len(PriorEncoder(levels=1)(torch.rand(1, 3, 5, 5))) == 1
    with pytest.raises(ValueError, match="levels must be >= 1"):
        PriorEncoder(levels=0)


def test_gradients_reach_every_parameter():
    enc = PriorEncoder(levels=3)
    prior = torch.rand(2, 3, 16, 16, requires_grad=True)
    sum(f.mean() for f in enc(prior)).backward()
    assert prior.grad.abs().sum() > 0
    assert all(p.grad is not None for p in enc.parameters())


def test_wrong_prior_names_the_tensor():
    with pytest.raises(ValueError, match=r"prior must have shape \(B, 3, H, W\), got \(1, 4, 8, 8\)"):
        PriorEncoder()(torch.rand(1, 4, 8, 8))


def test_bfloat16():
    enc = PriorEncoder(levels=2).to(torch.bfloat16)
    assert all(f.dtype == torch.bfloat16 for f in enc(torch.rand(1, 3, 9, 9, dtype=torch.bfloat16)))


def test_nearest_level():
    assert nearest_level([1, 2, 4, 8], 1) == 0
    assert nearest_level([1, 2, 4, 8], 16) == 3
    assert nearest_level([2, 4, 8, 16, 32], 1) == 0
    assert nearest_level([1, 2, 4], 0.25) == 0  # upsampling hosts read the finest level


def test_timm_backbone_without_download():
    enc = PriorEncoder(backbone="resnet10t", pretrained=False, out_indices=(0, 1, 2))
    assert enc.strides == [2, 4, 8]
    feats = enc(torch.rand(1, 3, 37, 29))
    assert [f.shape[1] for f in feats] == enc.channels
    assert feats[0].shape[-2:] == (19, 15)
    assert enc.level_for(1) == 0 and enc.level_for(8) == 2
    assert "mean" not in enc.state_dict()  # normalisation constants are not weights
