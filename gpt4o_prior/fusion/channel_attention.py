"""Transposed (channel x channel) cross-attention in the style of Restormer's MDTA: global and cheap."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .base import FusionBlock
from .gate import add_gated
from .heads import default_dim, default_heads
from .registry import register_fusion
from .zero import zero_module

__all__ = ["channel_cross_attention", "ChannelAttentionFusion"]


def channel_cross_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, heads: int,
                            temperature: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Attention across channels: ``softmax(norm(q) @ norm(k)^T * t) @ v``, with ``q``, ``k`` L2-normalised over
    the pixels. The attention map is (C/heads x C/heads) per head, so the cost grows linearly with H*W.

    Args:
        q, k, v: queries, keys and values with the same shape.
        heads: number of heads; must divide C.
        temperature: scale of the logits, a float or a tensor of shape (heads, 1, 1).

    Returns:
        The attended values.

    Shape:
        - q, k, v: (B, C, H, W)
        - output: (B, C, H, W)

    Example:
        >>> q = k = v = torch.randn(1, 4, 3, 3)
        >>> channel_cross_attention(q, k, v, heads=2).shape
        torch.Size([1, 4, 3, 3])
    """
    h, w = q.shape[-2:]
    q, k, v = (rearrange(t, "b (n c) x y -> b n c (x y)", n=heads) for t in (q, k, v))
    q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    attn = (q @ k.transpose(-2, -1) * temperature).softmax(dim=-1)
    return rearrange(attn @ v, "b n c (x y) -> b (n c) x y", x=h, y=w)


@register_fusion("channel_attention")
class ChannelAttentionFusion(FusionBlock):
    """Cross-attention between channels: queries from ``feat``, keys and values from the prior.

    Queries, keys and values are 1x1 projections to ``dim`` channels followed by 3x3 depthwise convolutions (as
    in MDTA); the attention map is (dim / heads) x (dim / heads) per head, so it is global over the image at a
    cost linear in H*W. The output projection (back to C) is zero-initialised: the block starts as the identity.

    Args:
        channels: ``C``, channels of ``feat``.
        prior_channels: ``Cp``, channels of ``prior``.
        dim: width of queries/keys/values, so the attention map is dim x dim (default ``clamp(C // 2, 16, 64)``).
        heads: attention heads (default: one per 32 of ``dim``, at most 8, dividing it).

    Shape:
        - feat: (B, C, H, W)
        - prior: (B, Cp, h, w), resized to (H, W)
        - confidence: (B, 1, h', w') or (B, h', w'), optional, resized to (H, W): gates the update
        - output: (B, C, H, W)

    Example:
        >>> block = ChannelAttentionFusion(8, 4)
        >>> feat = torch.randn(2, 8, 5, 6)
        >>> torch.equal(block(feat, prior=torch.randn(2, 4, 10, 12)), feat)
        True
    """

    def __init__(self, channels: int, prior_channels: int, *, dim: int | None = None, heads: int | None = None):
        super().__init__(channels, prior_channels)
        self.dim = dim = dim or default_dim(channels)
        self.heads = heads or default_heads(dim)
        if dim % self.heads:
            raise ValueError(f"ChannelAttentionFusion: heads={self.heads} must divide dim={dim}")
        self.to_q = nn.Sequential(nn.Conv2d(channels, dim, 1), nn.Conv2d(dim, dim, 3, padding=1, groups=dim))
        self.to_kv = nn.Sequential(nn.Conv2d(prior_channels, 2 * dim, 1),
                                   nn.Conv2d(2 * dim, 2 * dim, 3, padding=1, groups=2 * dim))
        self.temperature = nn.Parameter(torch.ones(self.heads, 1, 1))
        self.proj = zero_module(nn.Conv2d(dim, channels, 1))

    def forward(self, feat: torch.Tensor, *, prior: torch.Tensor,
                confidence: torch.Tensor | None = None) -> torch.Tensor:
        prior = self.prepare(feat, prior)
        confidence = self.prepare_confidence(feat, confidence)
        k, v = self.to_kv(prior).chunk(2, dim=1)
        out = channel_cross_attention(self.to_q(feat), k, v, heads=self.heads, temperature=self.temperature)
        return add_gated(feat, self.proj(out), confidence)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dim={self.dim}, heads={self.heads}"
