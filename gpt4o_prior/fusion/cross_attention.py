"""Spatial cross-attention in local windows with a halo: tolerant of a shifted prior, linear in H*W.

The attention runs on a grid of tokens. A token is one pixel of the point's feature map or, where the host's
features are narrow (by default ``C <= 64``: the first levels of a U-Net, which run at the highest resolutions),
the mean of a 2x2 block of pixels: four times fewer tokens, about a quarter of the cost, and the same window and
halo in tokens reach twice as far in pixels. From the projections to the output the tokens stay in a token-major
layout (B, N, D); the windows, border replicated, are gathered with one index per tensor, so no padded copy of the
image is made.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import FusionBlock
from .gate import add_gated
from .heads import default_dim, default_heads
from .registry import register_fusion
from .zero import zero_module

__all__ = ["halo_cross_attention", "default_token_size", "CrossAttentionFusion"]


def default_token_size(channels: int) -> int:
    """Side in pixels of one attention token at a point whose features have ``channels`` channels: 2 up to 64
    channels, 1 above.

    Per pixel, the attention costs about ``2 * (window + 2 * halo)**2 * dim`` multiply-adds (``dim`` at least 16:
    4608 with the defaults at 32 channels, 9216 at 64), a host's convolution block about ``6 * C**2`` (6144 at 32
    channels, 24576 at 64). Up to 64 channels, typically the full- and half-resolution levels of a U-Net, pixel
    tokens would cost a third to three quarters of a host block there; 2x2 tokens cut that by four. Wider features
    attend pixel by pixel.

    Example:
        >>> default_token_size(32), default_token_size(64), default_token_size(96), default_token_size(512)
        (2, 2, 1, 1)
    """
    return 2 if channels <= 64 else 1


def _block_starts(n: int, step: int, size: int, offset: int, device) -> torch.Tensor:
    """(ceil(n / step), size) indices ``block * step + i - offset``, clamped to [0, n) (a replicated border)."""
    blocks = -(-n // step)
    start = torch.arange(blocks, device=device)[:, None] * step - offset
    return (start + torch.arange(size, device=device)).clamp_(0, n - 1)


def _window_indices(h: int, w: int, window: int, halo: int, device):
    """Flat token indices of the query windows, of the key windows (grown by ``halo``) and back to the grid.

    Returns ``(q_idx, kv_idx, out_idx)``: ``q_idx`` (Y * X * window**2) lists each window's tokens, row-major,
    windows row-major; ``kv_idx`` (Y * X * (window + 2 * halo)**2) the same for the grown windows; positions past
    the border repeat the border token (replicate padding). ``out_idx`` (h * w) gives, for each token of the grid,
    its position among the gathered queries.
    """
    size = window + 2 * halo
    rq, cq = _block_starts(h, window, window, 0, device), _block_starts(w, window, window, 0, device)
    rk, ck = _block_starts(h, window, size, halo, device), _block_starts(w, window, size, halo, device)
    q_idx = (rq[:, None, :, None] * w + cq[None, :, None, :]).flatten()
    kv_idx = (rk[:, None, :, None] * w + ck[None, :, None, :]).flatten()
    r, c = torch.arange(h, device=device), torch.arange(w, device=device)
    xb = cq.shape[0]
    out_idx = ((r // window)[:, None] * xb + (c // window)[None, :]) * window * window \
        + (r % window)[:, None] * window + (c % window)[None, :]
    return q_idx, kv_idx, out_idx.flatten()


def _halo_attention_tokens(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, size: tuple[int, int], *,
                           window: int, halo: int, heads: int, scale: float | None) -> torch.Tensor:
    """:func:`halo_cross_attention` on token-major tensors (B, h * w, D) of an (h, w) grid; returns (B, h * w, D)."""
    b, _, d = q.shape
    h, w = size
    q_idx, kv_idx, out_idx = _window_indices(h, w, window, halo, q.device)
    dh = d // heads
    # gathered windows, (B * windows, heads, tokens, D / heads): the feature dimension keeps stride 1, as the fused
    # attention kernels need
    qw = q.index_select(1, q_idx).view(-1, window * window, heads, dh).transpose(1, 2)
    kw = k.index_select(1, kv_idx).view(qw.shape[0], -1, heads, dh).transpose(1, 2)
    vw = v.index_select(1, kv_idx).view(qw.shape[0], -1, heads, dh).transpose(1, 2)
    out = F.scaled_dot_product_attention(qw, kw, vw, scale=scale)
    return out.transpose(1, 2).reshape(b, -1, d).index_select(1, out_idx)


def halo_cross_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, window: int, halo: int,
                         heads: int = 1, scale: float | None = None) -> torch.Tensor:
    """Windowed cross-attention (HaloNet style): the queries of each ``window`` x ``window`` block attend to the
    keys and values of the same block grown by ``halo`` pixels on every side.

    Every query sees at least ``halo`` pixels beyond its own position in every direction (more towards the inside
    of its window), which absorbs a prior shifted by up to ``halo`` pixels; the cost is
    ``O(H * W * (window + 2 * halo)**2)``, linear in the pixel count. Past the image border the windows repeat the
    border pixels (replicate padding, no masks, so fused attention kernels apply); outputs are given for the
    image's own pixels only.

    Args:
        q, k, v: queries from the host, keys and values from the prior, all at the same spatial size.
        window: side of the query windows.
        halo: extra pixels of keys/values around each window.
        heads: number of heads; must divide D.
        scale: logit scale (default ``1 / sqrt(D / heads)``).

    Returns:
        Attended values at the queries' positions.

    Shape:
        - q, k, v: (B, D, H, W)
        - output: (B, D, H, W)

    Example:
        >>> q = k = v = torch.randn(1, 4, 10, 7)
        >>> halo_cross_attention(q, k, v, window=4, halo=2).shape
        torch.Size([1, 4, 10, 7])
    """
    b, d, h, w = q.shape
    if d % heads:
        raise ValueError(f"halo_cross_attention: heads={heads} must divide the feature width D={d}")
    q, k, v = (t.flatten(2).transpose(1, 2).contiguous() for t in (q, k, v))
    out = _halo_attention_tokens(q, k, v, (h, w), window=window, halo=halo, heads=heads, scale=scale)
    return out.transpose(1, 2).reshape(b, d, h, w)


def _block_mean(x: torch.Tensor, token: int) -> torch.Tensor:
    """Mean of ``x`` over ``token`` x ``token`` blocks, the border replicated where H or W is not a multiple.

    Sums of strided slices rather than ``avg_pool2d``: each input row is read once, in order (the pooling
    kernel's (B, C, H, W) path is several times slower on the CPU).

    Shape:
        - x: (B, C, H, W)
        - output: (B, C, ceil(H / token), ceil(W / token))
    """
    ph, pw = (-x.shape[-2]) % token, (-x.shape[-1]) % token
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    b, c, h, w = x.shape
    rows = x.reshape(b, c, h // token, token * w)
    total = rows[..., :w] + rows[..., w:2 * w]
    for i in range(2, token):
        total += rows[..., i * w:(i + 1) * w]
    rows, total = total, total[..., 0::token] + total[..., 1::token]
    for j in range(2, token):
        total += rows[..., j::token]
    return total.div_(token**2)


def _project_tokens(x: torch.Tensor, conv: nn.Conv2d, token: int) -> torch.Tensor:
    """The 1x1 convolution ``conv`` applied to the ``token`` x ``token`` block means of ``x``, token-major.

    Returns (B, ceil(H / token) * ceil(W / token), D), contiguous; the (B, C, H, W) input is read as it is laid
    out (the matrix product takes it transposed).
    """
    if token > 1:
        x = _block_mean(x, token)
    weight = conv.weight.flatten(1).t().expand(x.shape[0], -1, -1)
    return torch.baddbmm(conv.bias, x.flatten(2).transpose(1, 2), weight)


@register_fusion("cross_attention")
class CrossAttentionFusion(FusionBlock):
    """Spatial cross-attention: each token of ``feat`` queries the prior in a local window with a halo.

    Queries are a 1x1 projection of ``feat``, keys and values a 1x1 projection of the prior (resized to ``feat``);
    queries and keys are L2-normalised and scaled by a learned temperature per head (cosine attention, stable for
    features of any magnitude). The output projection is zero-initialised: the block starts as the identity.

    The attention runs on tokens of ``token_size`` x ``token_size`` pixels: the means of the features over each
    block (the border replicated where the size is not a multiple), projected. With ``token_size > 1`` the
    block's correction ``proj(attention)`` is computed per token and upsampled to the pixels (bilinear) before it
    is added to ``feat``, so it is smooth at the token's scale. ``window`` and ``halo`` count tokens: each token
    sees prior content at least ``halo`` tokens beyond its own in every direction (up to ``window + halo - 1``
    inside its window), that is at least ``halo * token_size`` pixels of ``feat``. With the defaults
    (``window=8, halo=2``, 2x2 tokens up to 64 channels) on a width-32 NAFNet: 4 pixels of the image at the
    full-resolution points, 8 at strides 2 and 4, 16 at stride 8, 32 at the bottleneck.

    Args:
        channels: ``C``, channels of ``feat``.
        prior_channels: ``Cp``, channels of ``prior``.
        dim: width of queries/keys/values (default ``clamp(C // 2, 16, 64)``).
        heads: attention heads (default: one per 32 of ``dim``, dividing it).
        window: side of the query windows, in tokens.
        halo: extra tokens of keys around each window (the shift it tolerates).
        token_size: side of a token in pixels of ``feat`` (default :func:`default_token_size`: 2 for
            ``C <= 64``, else 1).

    Shape:
        - feat: (B, C, H, W)
        - prior: (B, Cp, h, w), resized to (H, W)
        - confidence: (B, 1, h', w') or (B, h', w'), optional, resized to (H, W): gates the (upsampled) correction
          pixel by pixel
        - output: (B, C, H, W)

    Example:
        >>> block = CrossAttentionFusion(8, 4, window=4, halo=2)
        >>> block.token_size
        2
        >>> feat = torch.randn(2, 8, 9, 11)
        >>> torch.equal(block(feat, prior=torch.randn(2, 4, 18, 22)), feat)
        True
    """

    def __init__(self, channels: int, prior_channels: int, *, dim: int | None = None, heads: int | None = None,
                 window: int = 8, halo: int = 2, token_size: int | None = None):
        super().__init__(channels, prior_channels)
        if window < 1 or halo < 0:
            raise ValueError(f"CrossAttentionFusion: need window >= 1 and halo >= 0, got window={window}, halo={halo}")
        token_size = default_token_size(self.channels) if token_size is None else token_size
        if int(token_size) != token_size or token_size < 1:
            raise ValueError(f"CrossAttentionFusion: token_size must be a positive integer, got {token_size!r}")
        self.dim = dim or default_dim(channels)
        self.heads = heads or default_heads(self.dim)
        if self.dim % self.heads:
            raise ValueError(f"CrossAttentionFusion: heads={self.heads} must divide dim={self.dim}")
        self.window, self.halo, self.token_size = int(window), int(halo), int(token_size)
        self.to_q = nn.Conv2d(channels, self.dim, 1)
        self.to_kv = nn.Conv2d(prior_channels, 2 * self.dim, 1)
        self.logit_scale = nn.Parameter(torch.full((self.heads, 1, 1), math.log(10.0)))
        self.proj = zero_module(nn.Conv2d(self.dim, channels, 1))

    def forward(self, feat: torch.Tensor, *, prior: torch.Tensor,
                confidence: torch.Tensor | None = None) -> torch.Tensor:
        prior = self.prepare(feat, prior)
        confidence = self.prepare_confidence(feat, confidence)
        b, c, h, w = feat.shape
        d, t = self.dim, self.token_size
        size = (-(-h // t), -(-w // t))  # the token grid
        q, kv = _project_tokens(feat, self.to_q, t), _project_tokens(prior, self.to_kv, t)  # (B, tokens, D | 2D)
        temperature = self.logit_scale.clamp(max=math.log(100.0)).exp().to(q.dtype).view(self.heads, 1)
        q = F.normalize(q.unflatten(-1, (self.heads, -1)), dim=-1).mul(temperature).flatten(2)
        k = F.normalize(kv[..., :d].unflatten(-1, (self.heads, -1)), dim=-1).flatten(2)
        out = _halo_attention_tokens(q, k, kv[..., d:], size, window=self.window, halo=self.halo, heads=self.heads,
                                     scale=1.0)
        # the output projection, computed straight into the (B, C, tokens) layout
        weight, bias = self.proj.weight.flatten(1).expand(b, -1, -1), self.proj.bias[:, None]
        if t == 1 and confidence is None:
            return torch.baddbmm(feat.reshape(b, c, h * w), weight, out.transpose(1, 2)).add_(bias).view(b, c, h, w)
        corr = torch.baddbmm(bias, weight, out.transpose(1, 2)).view(b, c, *size)
        if t > 1:
            corr = F.interpolate(corr, scale_factor=t, mode="bilinear", align_corners=False)
        if corr.shape[-2:] != feat.shape[-2:]:
            return add_gated(feat, corr[:, :, :h, :w], confidence)
        if confidence is not None:
            return add_gated(feat, corr, confidence)
        return corr.add_(feat)  # in place: the upsampled tensor is new, and upsampling's backward does not read it

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, dim={self.dim}, heads={self.heads}, window={self.window}, "
                f"halo={self.halo}, token_size={self.token_size}")
