"""Registry-driven tests of ``confidence``: every registered block gates its update by it, the same way.

Zero confidence gives the host's features exactly (even once the block is trained), one is the ungated block,
any spatial size is resized, gradients flow, bad maps are clear errors naming ``confidence``.
"""
import inspect

import pytest
import torch

from gpt4o_prior.fusion import (add_gated, check_confidence, create_fusion, gate_update, get_fusion_class,
                                list_fusions, prepare_confidence, resize_prior)

KINDS = list_fusions()
C, CP = 8, 5


def _trained(kind, seed=0):
    """A block whose parameters all moved away from their (identity) initialisation."""
    block = create_fusion(kind, C, CP).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    return block


def _inputs(b=2, hw=(10, 12), prior_hw=(7, 9)):
    return torch.randn(b, C, *hw), torch.randn(b, CP, *prior_hw)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_takes_confidence_keyword(kind):
    params = inspect.signature(get_fusion_class(kind).forward).parameters
    assert "confidence" in params and params["confidence"].default is None
    assert params["confidence"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("kind", KINDS)
def test_zero_confidence_is_exactly_the_host_even_trained(kind):
    block = _trained(kind)
    feat, prior = _inputs()
    assert not torch.allclose(block(feat, prior=prior), feat)  # the trained block does change the features
    out = block(feat, prior=prior, confidence=torch.zeros(2, 1, 10, 12))
    assert torch.equal(out, feat)
    out = block(feat, prior=prior, confidence=torch.zeros(2, 1, 3, 4))  # resized: still zero everywhere
    assert torch.equal(out, feat)


@pytest.mark.parametrize("kind", KINDS)
def test_partial_confidence_gates_pixel_by_pixel(kind):
    block = _trained(kind)
    feat, prior = _inputs()
    keep = (torch.rand(2, 1, 10, 12) > 0.5).float()
    out, full = block(feat, prior=prior, confidence=keep), block(feat, prior=prior)
    off = keep.expand_as(feat) == 0
    assert torch.equal(out[off], feat[off])
    torch.testing.assert_close(out[~off], full[~off], rtol=0, atol=1e-6)
    # and in between, linear in the confidence
    half = block(feat, prior=prior, confidence=torch.full((2, 1, 10, 12), 0.5))
    torch.testing.assert_close(half, feat + 0.5 * (full - feat), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_ones_are_none(kind):
    block = _trained(kind)
    feat, prior = _inputs()
    torch.testing.assert_close(block(feat, prior=prior, confidence=torch.ones(2, 1, 10, 12)),
                               block(feat, prior=prior), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_identity_at_init_with_any_confidence(kind):
    block = create_fusion(kind, C, CP).eval()
    feat, prior = _inputs()
    torch.testing.assert_close(block(feat, prior=prior, confidence=torch.rand(2, 1, 5, 5)), feat, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_confidence_of_another_size_and_rank(kind):
    block = _trained(kind)
    feat, prior = _inputs(hw=(13, 11))
    small = torch.rand(2, 1, 4, 3)
    want = block(feat, prior=prior, confidence=resize_prior(small, (13, 11)))
    torch.testing.assert_close(block(feat, prior=prior, confidence=small), want, rtol=0, atol=0)
    torch.testing.assert_close(block(feat, prior=prior, confidence=small[:, 0]), want, rtol=0, atol=0)  # (B, h, w)
    big = torch.rand(2, 1, 26, 22)
    assert block(feat, prior=prior, confidence=big).shape == feat.shape


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_with_a_random_confidence(kind):
    block = _trained(kind).train()
    feat, prior = _inputs()
    feat.requires_grad_(True)
    confidence = torch.rand(2, 1, 5, 6, requires_grad=True)
    (block(feat, prior=prior, confidence=confidence) - torch.randn(2, C, 10, 12)).pow(2).mean().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in block.parameters())
    assert confidence.grad is not None and confidence.grad.abs().sum() > 0
    assert feat.grad is not None and feat.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16_with_confidence(kind):
    block = _trained(kind).to(torch.bfloat16)
    feat = torch.randn(2, C, 8, 8, dtype=torch.bfloat16)
    out = block(feat, prior=torch.randn(2, CP, 8, 8), confidence=torch.rand(2, 1, 8, 8))  # float32 map: cast
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    assert torch.equal(block(feat, prior=torch.randn(2, CP, 8, 8), confidence=torch.zeros(2, 1, 4, 4)), feat)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_confidence_is_a_clear_error(kind):
    block = create_fusion(kind, C, CP)
    feat, prior = _inputs(hw=(8, 8))
    for bad, shape in [(torch.rand(2, 2, 8, 8), r"\(2, 2, 8, 8\)"), (torch.rand(2, 8), r"\(2, 8\)"),
                       (torch.rand(1, 2, 1, 8, 8), r"\(1, 2, 1, 8, 8\)")]:
        with pytest.raises(ValueError, match=r"confidence must have shape \(B, 1, h, w\) or \(B, h, w\), got " + shape):
            block(feat, prior=prior, confidence=bad)
    with pytest.raises(ValueError, match=r"confidence must have the features' batch size 2, got shape \(3, 1, 8, 8\)"):
        block(feat, prior=prior, confidence=torch.rand(3, 1, 8, 8))
    with pytest.raises(ValueError, match="confidence must be a floating-point map.*torch.uint8"):
        block(feat, prior=prior, confidence=torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="confidence must be a torch.Tensor"):
        block(feat, prior=prior, confidence=[[0.5]])


def test_gate_functions():
    feat, fused = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    c = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(gate_update(feat, fused, c), feat + c * (fused - feat))
    torch.testing.assert_close(add_gated(feat, fused - feat, c), feat + c * (fused - feat))
    assert gate_update(feat, fused, None) is fused
    assert torch.equal(gate_update(feat, fused, torch.ones(2, 1, 4, 4)), fused)  # exact at both ends
    assert torch.equal(gate_update(feat, fused, torch.zeros(2, 1, 4, 4)), feat)
    assert torch.equal(add_gated(feat, fused, None), feat + fused)


def test_check_and_prepare_confidence():
    assert check_confidence(torch.rand(2, 5, 6)).shape == (2, 1, 5, 6)
    assert check_confidence(torch.rand(2, 1, 5, 6), batch=2).shape == (2, 1, 5, 6)
    with pytest.raises(ValueError, match="batch size 3"):
        check_confidence(torch.rand(2, 1, 5, 6), batch=3)
    feat = torch.zeros(2, 4, 6, 6, dtype=torch.float64)
    out = prepare_confidence(feat, torch.rand(2, 1, 3, 3))
    assert out.shape == (2, 1, 6, 6) and out.dtype == torch.float64
    assert prepare_confidence(feat, None) is None
