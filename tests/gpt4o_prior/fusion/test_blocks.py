"""Registry-driven tests: every registered fusion block gets the same shape, dtype, identity, gradient and
error tests (as timm's tests run over ``list_models()``)."""
import pytest
import torch
from torch import nn

from gpt4o_prior.fusion import FusionBlock, create_fusion, get_fusion_class, list_fusions, register_fusion

KINDS = list_fusions()
C, CP = 8, 5


def _block(kind, **kw):
    return create_fusion(kind, C, CP, **kw).eval()


def _perturb(block, std=0.3):
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * std)
    return block


def test_required_kinds_are_registered():
    assert {"sft", "film", "cross_attention", "channel_attention", "concat", "zero_add", "input_concat"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("feat_hw,prior_hw", [((13, 11), (7, 9)), ((8, 8), (8, 8)), ((1, 3), (16, 16))])
def test_shape_and_identity_at_init(kind, feat_hw, prior_hw):
    block = _block(kind)
    feat = torch.randn(2, C, *feat_hw)
    out = block(feat, prior=torch.randn(2, CP, *prior_hw))
    assert out.shape == feat.shape and out.dtype == feat.dtype
    torch.testing.assert_close(out, feat, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16(kind):
    block = _perturb(_block(kind)).to(torch.bfloat16)
    feat = torch.randn(2, C, 12, 10, dtype=torch.bfloat16)
    out = block(feat, prior=torch.randn(2, CP, 6, 5))  # a float32 prior is cast to the features' dtype
    assert out.dtype == torch.bfloat16 and out.shape == feat.shape
    assert torch.isfinite(out.float()).all()


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16_identity_at_init(kind):
    block = _block(kind).to(torch.bfloat16)
    feat = torch.randn(2, C, 9, 9, dtype=torch.bfloat16)
    torch.testing.assert_close(block(feat, prior=torch.randn(2, CP, 9, 9, dtype=torch.bfloat16)), feat)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_prior_and_every_parameter(kind):
    block = _block(kind).train()
    feat = torch.randn(2, C, 10, 12, requires_grad=True)
    prior = torch.randn(2, CP, 10, 12, requires_grad=True)
    # One optimiser step moves the zero-initialised projections; from then on the prior receives gradient.
    opt = torch.optim.SGD(block.parameters(), lr=0.1)
    target = torch.randn(2, C, 10, 12)
    for _ in range(2):
        opt.zero_grad()
        prior.grad = None
        loss = (block(feat, prior=prior) - target).pow(2).mean()
        loss.backward()
        opt.step()
    assert prior.grad is not None and prior.grad.abs().sum() > 0
    assert feat.grad is not None and feat.grad.abs().sum() > 0
    for name, p in block.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in block.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_prior_is_a_clear_error(kind):
    block = _block(kind)
    feat = torch.randn(2, C, 8, 8)
    with pytest.raises(ValueError, match=r"prior must have shape \(B, 5, h, w\), got \(2, 4, 8, 8\)"):
        block(feat, prior=torch.randn(2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"prior must have shape .*got \(2, 5, 8\)"):
        block(feat, prior=torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="feat and prior must have the same batch size, got 2 and 3"):
        block(feat, prior=torch.randn(3, CP, 8, 8))
    with pytest.raises(ValueError, match=r"feat must have shape \(B, 8, H, W\)"):
        block(torch.randn(2, 7, 8, 8), prior=torch.randn(2, CP, 8, 8))


@pytest.mark.parametrize("kind", KINDS)
def test_prior_is_used_once_trained(kind):
    block = _perturb(_block(kind))
    feat = torch.randn(1, C, 8, 8)
    a, b = block(feat, prior=torch.randn(1, CP, 8, 8)), block(feat, prior=torch.randn(1, CP, 8, 8))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_round_trip(kind):
    src, dst = _perturb(_block(kind)), _block(kind)
    dst.load_state_dict(src.state_dict())
    feat, prior = torch.randn(1, C, 7, 7), torch.randn(1, CP, 7, 7)
    torch.testing.assert_close(dst(feat, prior=prior), src(feat, prior=prior), rtol=0, atol=0)


def test_factory_accepts_class_and_callable():
    class Gate(FusionBlock):
        def __init__(self, channels, prior_channels, scale=1.0):
            super().__init__(channels, prior_channels)
            self.scale = scale

        def forward(self, feat, *, prior):
            return feat + 0 * self.prepare(feat, prior).mean(1, keepdim=True)

    assert isinstance(create_fusion(Gate, 4, 2, scale=2.0), Gate)
    assert create_fusion(lambda c, cp: Gate(c, cp), 4, 2).channels == 4
    assert get_fusion_class("sft").kind == "sft"
    with pytest.raises(KeyError, match="unknown fusion 'nope'; registered fusions: channel_attention"):
        create_fusion("nope", 4, 2)
    with pytest.raises(TypeError, match="not an nn.Module"):
        create_fusion(lambda c, cp: 3, 4, 2)
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        create_fusion("sft", 0, 2)


def test_register_refuses_a_second_class_for_a_name():
    with pytest.raises(ValueError, match="already registered"):
        register_fusion("sft")(type("Other", (nn.Module,), {}))
