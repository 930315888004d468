"""The windowed cross-attention: equal to a direct computation, local with a halo, linear in H*W, tolerant of a
shifted prior; the coarse token grid (``token_size=2``) keeps all of that."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from gpt4o_prior.fusion import ChannelAttentionFusion, CrossAttentionFusion, halo_cross_attention
from gpt4o_prior.fusion.cross_attention import default_token_size

from tests.helpers.hosts import TinyUNet


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
    block = _trained(CrossAttentionFusion(8, 4, window=4, halo=3, token_size=1))
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


@pytest.mark.parametrize("block", [CrossAttentionFusion(16, 8, token_size=1), CrossAttentionFusion(16, 8),
                                   ChannelAttentionFusion(16, 8)],
                         ids=["cross_attention_pixel_tokens", "cross_attention_2x2_tokens", "channel_attention"])
def test_cost_is_linear_in_pixels(block):
    small, large = _flops(block, (32, 32)), _flops(block, (64, 64))
    assert small > 0
    assert 3.8 < large / small < 4.2  # 4x the pixels, 4x the work


# ---------------------------------------------------------------------------------------------------------------
# The token grid (token_size): the fast path equals the plain definition; the shift it tolerates grows with it


def _plain_block(block, feat, prior):
    """The block's definition written plainly (NCHW, avg-pooling after replicate padding, the reference attention)."""
    t, h, w = block.token_size, feat.shape[-2], feat.shape[-1]
    prior = F.interpolate(prior, size=(h, w), mode="bilinear", align_corners=False) \
        if prior.shape[-2:] != feat.shape[-2:] else prior

    def pool(x):
        return F.avg_pool2d(F.pad(x, (0, (-w) % t, 0, (-h) % t), mode="replicate"), t)

    def normalise(x):
        b, d, hh, ww = x.shape
        return F.normalize(x.view(b, block.heads, d // block.heads, hh, ww), dim=2).view(b, d, hh, ww)

    temperature = block.logit_scale.clamp(max=math.log(100.0)).exp()
    q = normalise(block.to_q(pool(feat)))
    q = (q.view(q.shape[0], block.heads, -1, *q.shape[-2:]) * temperature[:, :, :, None]).view(q.shape)
    k, v = block.to_kv(pool(prior)).chunk(2, dim=1)
    heads_out = [_attend(qh, kh, vh, block.window, block.halo)
                 for qh, kh, vh in zip(q.chunk(block.heads, 1), normalise(k).chunk(block.heads, 1),
                                       v.chunk(block.heads, 1))]
    corr = block.proj(torch.cat(heads_out, dim=1))
    if t > 1:
        corr = F.interpolate(corr, scale_factor=t, mode="bilinear", align_corners=False)[:, :, :h, :w]
    return feat + corr


def _attend(q, k, v, window, halo):
    # the reference attention with logit scale 1 (the block folds its temperature into q): undo its 1 / sqrt(d)
    return _reference(q * q.shape[1] ** 0.5, k, v, window, halo)


@pytest.mark.parametrize("token_size,hw,heads", [(1, (9, 10), 1), (2, (12, 16), 1), (2, (11, 7), 2), (3, (10, 8), 1)])
def test_fast_path_equals_the_plain_definition(token_size, hw, heads):
    torch.manual_seed(0)
    block = _trained(CrossAttentionFusion(8, 5, dim=8, heads=heads, window=2, halo=1, token_size=token_size))
    feat, prior = torch.randn(2, 8, *hw), torch.randn(2, 5, hw[0] + 3, hw[1] - 1)
    torch.testing.assert_close(block(feat, prior=prior), _plain_block(block, feat, prior), rtol=1e-4, atol=1e-5)


def test_default_token_size_and_it_is_inspectable():
    assert [default_token_size(c) for c in (16, 32, 48, 64, 65, 128, 512)] == [2, 2, 2, 2, 1, 1, 1]
    assert CrossAttentionFusion(32, 16).token_size == 2 and CrossAttentionFusion(128, 64).token_size == 1
    assert CrossAttentionFusion(32, 16, token_size=1).token_size == 1
    assert "token_size=2" in repr(CrossAttentionFusion(32, 16))
    with pytest.raises(ValueError, match="token_size must be a positive integer"):
        CrossAttentionFusion(8, 4, token_size=0)


def test_token_size_does_not_change_the_parameters():
    # a branch trained with one token size loads into the other: same keys, same shapes
    a, b = CrossAttentionFusion(32, 16, token_size=1), CrossAttentionFusion(32, 16, token_size=2)
    b.load_state_dict(_trained(a).state_dict())
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}


@pytest.mark.parametrize("token_size", [2, 3])
@pytest.mark.parametrize("hw", [(1, 1), (5, 7), (13, 6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_coarse_tokens_identity_at_init_any_size(token_size, hw, dtype):
    block = CrossAttentionFusion(8, 4, window=2, halo=1, token_size=token_size).to(dtype)
    feat = torch.randn(2, 8, *hw, dtype=dtype)
    out = block(feat, prior=torch.randn(2, 4, 9, 9, dtype=dtype))
    assert out.shape == feat.shape and out.dtype == dtype and out.is_contiguous()
    assert torch.equal(out, feat)


@pytest.mark.parametrize("token_size", [1, 2])
def test_gradients_are_exact(token_size):
    block = _trained(CrossAttentionFusion(4, 3, dim=4, window=2, halo=1, token_size=token_size)).double()
    feat = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    prior = torch.randn(1, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f, p: block(f, prior=p), (feat, prior))


def _matcher(token_size, halo=2):
    """A block whose attention finds, for each token of ``feat``, the same content in the prior, and returns it:
    q = feat, k = v = prior (identity projections), a sharp temperature, proj = identity."""
    block = CrossAttentionFusion(8, 8, dim=8, heads=1, window=4, halo=halo, token_size=token_size)
    eye = torch.eye(8)[:, :, None, None]
    with torch.no_grad():
        block.to_q.weight.copy_(eye)
        block.to_kv.weight.copy_(torch.cat([eye, eye]))
        block.proj.weight.copy_(eye)
        for conv in (block.to_q, block.to_kv, block.proj):
            conv.bias.zero_()
        block.logit_scale.fill_(math.log(100.0))
    return block


@pytest.mark.parametrize("token_size", [1, 2])
def test_undoes_a_prior_shift_of_up_to_halo_tokens_and_not_more(token_size):
    torch.manual_seed(0)
    block = _matcher(token_size)
    content = torch.randn(1, 8, 48, 48)
    aligned = block(content, prior=content) - content  # what the block brings from an aligned prior
    inner = (slice(None), slice(None), slice(12, 36), slice(12, 36))  # away from the rolled-around border

    def error(shift):
        shifted = torch.roll(content, shifts=(shift, -shift), dims=(2, 3))
        return ((block(content, prior=shifted) - content) - aligned)[inner].abs().max().item()

    # whole tokens up to the halo (2 tokens: 2 pixels with pixel tokens, 4 with 2x2 tokens) are undone; shifts
    # within a token are brought to the nearest token only (not tested: they blend)
    for shift in range(token_size, 2 * token_size + 1, token_size):
        assert error(shift) < 0.02, shift
    assert error(3 * token_size) > 0.5  # one token beyond the halo: some tokens no longer see their content


def test_coarse_tokens_see_content_halo_tokens_away_and_nothing_far_beyond():
    block = _trained(CrossAttentionFusion(8, 4, window=4, halo=2, token_size=2))
    feat = torch.randn(1, 8, 32, 32)
    prior = torch.randn(1, 4, 32, 32, requires_grad=True)
    block(feat, prior=prior)[0, :, 17, 17].sum().backward()  # token (8, 8): first of its window (tokens 8..11)
    g = prior.grad[0].abs().sum(0)
    assert g[17 - 5, 17 - 5] > 0 and g[17 + 4, 17 + 4] > 0  # at least halo * token_size = 4 pixels, both ways
    # the pixel blends (bilinearly) its token and the one before it; their windows reach tokens 2..13 at most
    assert g[:4].sum() == 0 and g[28:].sum() == 0 and g[:, :4].sum() == 0 and g[:, 28:].sum() == 0


def test_attach_points_show_their_token_size():
    from gpt4o_prior import attach_prior

    # auto points of the two-level U-Net: the middle (4c channels) and the two decoders (2c, c)
    narrow = attach_prior(TinyUNet(c=8), fusion="cross_attention", window=4)
    assert [m.block.token_size for m in narrow.branch.points.values()] == [2, 2, 2]  # 32, 16, 8 channels
    wide = attach_prior(TinyUNet(c=32), fusion="cross_attention", window=4)
    assert [m.block.token_size for m in wide.branch.points.values()] == [1, 2, 2]  # 128, 64, 32 channels
    assert "token_size=1" in str(wide) and "token_size=2" in str(wide)
    assert [m.block.token_size for m in attach_prior(TinyUNet(c=32), fusion="cross_attention",
                                                     token_size=1).branch.points.values()] == [1, 1, 1]
