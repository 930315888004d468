"""The windowed cross-attention: equal to a direct computation, local with a halo, linear in H*W."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from gpt4o_prior.fusion import ChannelAttentionFusion, CrossAttentionFusion, halo_cross_attention


def _reference(q, k, v, window, halo):
    """Per query pixel: softmax over the replicate-padded (window + 2 * halo)^2 region of its window."""
    b, d, h, w = q.shape
    ph, pw = (-h) % window, (-w) % window
    kp = F.pad(k, (halo, halo + pw, halo, halo + ph), mode="replicate")
    vp = F.pad(v, (halo, halo + pw, halo, halo + ph), mode="replicate")
    out = torch.zeros_like(q)
    size = window + 2 * halo
    for y in range(h):
        for x in range(w):
            y0, x0 = (y // window) * window, (x // window) * window
            keys = kp[:, :, y0:y0 + size, x0:x0 + size].flatten(2)  # (B, D, S)
            vals = vp[:, :, y0:y0 + size, x0:x0 + size].flatten(2)
            attn = torch.einsum("bd,bds->bs", q[:, :, y, x], keys) / d ** 0.5
            out[:, :, y, x] = torch.einsum("bs,bds->bd", attn.softmax(-1), vals)
    return out


@pytest.mark.parametrize("hw", [(8, 8), (11, 6)])
def test_matches_direct_computation(hw):
    q, k, v = (torch.randn(2, 4, *hw) for _ in range(3))
    torch.testing.assert_close(halo_cross_attention(q, k, v, window=4, halo=2), _reference(q, k, v, 4, 2))


def test_multi_head_equals_heads_run_separately():
    q, k, v = (torch.randn(1, 8, 9, 9) for _ in range(3))
    both = halo_cross_attention(q, k, v, window=4, halo=1, heads=2)
    first = halo_cross_attention(q[:, :4], k[:, :4], v[:, :4], window=4, halo=1)
    torch.testing.assert_close(both[:, :4], first)


def _trained(block):
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return block


def test_sees_a_prior_shifted_by_the_halo_and_nothing_beyond():
    block = _trained(CrossAttentionFusion(8, 4, window=4, halo=3))
    feat = torch.randn(1, 8, 16, 16)
    prior = torch.randn(1, 4, 16, 16, requires_grad=True)
    block(feat, prior=prior)[0, :, 5, 5].sum().backward()  # pixel (5, 5) lies in the window rows/cols 4..7
    g = prior.grad[0].abs().sum(0)
    assert g[5 + 3, 5 + 3] > 0 and g[5 - 3, 5 - 3] > 0  # content 3 px away (the halo) reaches the pixel
    assert g[4 - 3, 4 - 3] > 0 and g[7 + 3, 7 + 3] > 0  # the whole halo ring of its window
    assert g[7 + 4, 5] == 0 and g[5, 4 - 4] == 0  # beyond the halo: nothing


def _cpu_attention_flops(q, k, v, *args, out_shape=None, **kwargs):
    return sdpa_flop_count(q, k, v)


def _flops(block, hw):
    # torch's flop counter does not know the CPU attention kernel: count it as the CUDA ones are counted
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}
    feat, prior = torch.randn(1, block.channels, *hw), torch.randn(1, block.prior_channels, *hw)
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        block(feat, prior=prior)
    counts = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    assert set(counts) - {"aten.convolution"}, counts  # the attention itself is counted
    return counter.get_total_flops()


@pytest.mark.parametrize("block", [CrossAttentionFusion(16, 8), ChannelAttentionFusion(16, 8)],
                         ids=["cross_attention", "channel_attention"])
def test_cost_is_linear_in_pixels(block):
    small, large = _flops(block, (32, 32)), _flops(block, (64, 64))
    assert small > 0
    assert 3.8 < large / small < 4.2  # 4x the pixels, 4x the work
