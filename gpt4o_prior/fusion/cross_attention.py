"""Spatial cross-attention in local windows with a halo: tolerant of a shifted prior, linear in H*W."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .base import FusionBlock
from .heads import default_dim, default_heads
from .registry import register_fusion
from .zero import zero_module

__all__ = ["halo_cross_attention", "CrossAttentionFusion"]


def halo_cross_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, window: int, halo: int,
                         heads: int = 1, scale: float | None = None) -> torch.Tensor:
    """Windowed cross-attention (HaloNet style): the queries of each ``window`` x ``window`` block attend to the
    keys and values of the same block grown by ``halo`` pixels on every side.

    Every query sees at least ``halo`` pixels beyond its own position in every direction (more towards the inside
    of its window), which absorbs a prior shifted by up to ``halo`` pixels; the cost is ``O(H * W * (window + 2 * halo)**2)``, linear in the pixel count. The
    image is padded to a multiple of ``window``, and keys/values by ``halo`` more, by replicating the border (no
    masks, so fused attention kernels apply); the output is cropped back.

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
    ph, pw = (-h) % window, (-w) % window
    hb, wb = (h + ph) // window, (w + pw) // window
    q = F.pad(q, (0, pw, 0, ph), mode="replicate") if ph or pw else q
    q = rearrange(q, "b (n d) (y i) (x j) -> (b y x) n (i j) d", n=heads, i=window, j=window)
    size = window + 2 * halo
    kv = F.pad(torch.cat([k, v], dim=1), (halo, halo + pw, halo, halo + ph), mode="replicate")
    # overlapping (size x size) windows at stride `window`, as a strided view, gathered in one copy
    kv = kv.permute(0, 2, 3, 1).unfold(1, size, window).unfold(2, size, window)  # (B, Y, X, 2D, size, size)
    k, v = rearrange(kv, "b y x (two n d) s t -> two (b y x) n (s t) d", two=2, n=heads)
    # contiguous: fused attention kernels need the feature dimension to have stride 1
    out = F.scaled_dot_product_attention(q.contiguous(), k.contiguous(), v.contiguous(), scale=scale)
    out = rearrange(out, "(b y x) n (i j) d -> b (n d) (y i) (x j)", b=b, y=hb, x=wb, i=window, j=window)
    return out[:, :, :h, :w]


@register_fusion("cross_attention")
class CrossAttentionFusion(FusionBlock):
    """Spatial cross-attention: each host pixel queries the prior in a local window with a halo.

    Queries are a 1x1 projection of ``feat``, keys and values a 1x1 projection of the prior (resized to ``feat``);
    queries and keys are L2-normalised and scaled by a learned temperature per head (cosine attention, stable for
    features of any magnitude). The output projection is zero-initialised: the block starts as the identity.
    With the defaults ``window=8, halo=2`` each pixel sees prior content at least 2 pixels away in every
    direction at its own resolution (8 pixels of the image at a stride-4 point), and up to 9 pixels away inside
    its window.

    Args:
        channels: ``C``, channels of ``feat``.
        prior_channels: ``Cp``, channels of ``prior``.
        dim: width of queries/keys/values (default ``clamp(C // 2, 16, 64)``).
        heads: attention heads (default: one per 32 of ``dim``, dividing it).
        window: side of the query windows.
        halo: extra pixels of keys around each window (the shift it tolerates).

    Shape:
        - feat: (B, C, H, W)
        - prior: (B, Cp, h, w), resized to (H, W)
        - output: (B, C, H, W)

    Example:
        >>> block = CrossAttentionFusion(8, 4, window=4, halo=2)
        >>> feat = torch.randn(2, 8, 9, 11)
        >>> torch.equal(block(feat, prior=torch.randn(2, 4, 18, 22)), feat)
        True
    """

    def __init__(self, channels: int, prior_channels: int, *, dim: int | None = None, heads: int | None = None,
                 window: int = 8, halo: int = 2):
        super().__init__(channels, prior_channels)
        if window < 1 or halo < 0:
            raise ValueError(f"CrossAttentionFusion: need window >= 1 and halo >= 0, got window={window}, halo={halo}")
        self.dim = dim or default_dim(channels)
        self.heads = heads or default_heads(self.dim)
        if self.dim % self.heads:
            raise ValueError(f"CrossAttentionFusion: heads={self.heads} must divide dim={self.dim}")
        self.window, self.halo = int(window), int(halo)
        self.to_q = nn.Conv2d(channels, self.dim, 1)
        self.to_kv = nn.Conv2d(prior_channels, 2 * self.dim, 1)
        self.logit_scale = nn.Parameter(torch.full((self.heads, 1, 1), math.log(10.0)))
        self.proj = zero_module(nn.Conv2d(self.dim, channels, 1))

    def forward(self, feat: torch.Tensor, *, prior: torch.Tensor) -> torch.Tensor:
        prior = self.prepare(feat, prior)
        k, v = self.to_kv(prior).chunk(2, dim=1)
        temperature = self.logit_scale.clamp(max=math.log(100.0)).exp()
        q, k = self._normalise(self.to_q(feat), temperature), self._normalise(k)
        out = halo_cross_attention(q, k, v, window=self.window, halo=self.halo, heads=self.heads, scale=1.0)
        return feat + self.proj(out)

    def _normalise(self, t: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        # L2-normalise each head's vector at each pixel, optionally times a per-head scale of shape (heads, 1, 1).
        b, _, h, w = t.shape
        t = F.normalize(t.view(b, self.heads, self.dim // self.heads, h, w), dim=2)
        if scale is not None:
            t = t * scale.to(t.dtype)[:, :, :, None]
        return t.view(b, self.dim, h, w)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dim={self.dim}, heads={self.heads}, window={self.window}, halo={self.halo}"
