"""ControlNet-style fusion: a zero-initialised projection of the prior added to the host features."""
from __future__ import annotations

import torch
from torch import nn

from .base import FusionBlock
from .gate import add_gated
from .registry import register_fusion
from .zero import zero_module

__all__ = ["ZeroAddFusion"]


@register_fusion("zero_add")
class ZeroAddFusion(FusionBlock):
    """``feat + zero_conv(prior)``: a 1x1 convolution (optionally after a 1x1 + GELU of width ``hidden``) whose
    weights and bias start at zero, as ControlNet's zero convolutions.

    Args:
        channels: ``C``, channels of ``feat``.
        prior_channels: ``Cp``, channels of ``prior``.
        hidden: when given, a 1x1 convolution to ``hidden`` channels and a GELU come before the zero projection.

    Shape:
        - feat: (B, C, H, W)
        - prior: (B, Cp, h, w), resized to (H, W)
        - confidence: (B, 1, h', w') or (B, h', w'), optional, resized to (H, W): gates the update
        - output: (B, C, H, W)

    Example:
        >>> block = ZeroAddFusion(8, 4)
        >>> feat = torch.randn(2, 8, 5, 5)
        >>> torch.equal(block(feat, prior=torch.randn(2, 4, 7, 7)), feat)
        True
    """

    def __init__(self, channels: int, prior_channels: int, *, hidden: int | None = None):
        super().__init__(channels, prior_channels)
        pre = [nn.Conv2d(prior_channels, hidden, 1), nn.GELU()] if hidden else []
        self.proj = nn.Sequential(*pre, zero_module(nn.Conv2d(hidden or prior_channels, channels, 1)))

    def forward(self, feat: torch.Tensor, *, prior: torch.Tensor,
                confidence: torch.Tensor | None = None) -> torch.Tensor:
        prior = self.prepare(feat, prior)
        confidence = self.prepare_confidence(feat, confidence)
        return add_gated(feat, self.proj(prior), confidence)
