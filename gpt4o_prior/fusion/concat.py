"""Concatenate host and prior features, then project back to the host's channels with a 1x1 convolution."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import FusionBlock
from .gate import gate_update
from .registry import register_fusion

__all__ = ["concat_project", "ConcatFusion"]


def concat_project(feat: torch.Tensor, prior: torch.Tensor, weight: torch.Tensor,
                   bias: torch.Tensor | None = None) -> torch.Tensor:
    """``conv1x1(cat([feat, prior]), weight, bias)``.

    Shape:
        - feat: (B, C, H, W); prior: (B, Cp, H, W)
        - weight: (C, C + Cp, 1, 1); bias: (C,)
        - output: (B, C, H, W)

    Example:
        >>> w = torch.cat([torch.eye(2), torch.zeros(2, 1)], 1)[..., None, None]
        >>> x = torch.randn(1, 2, 3, 3)
        >>> torch.equal(concat_project(x, torch.randn(1, 1, 3, 3), w), x)
        True
    """
    return F.conv2d(torch.cat([feat, prior], dim=1), weight, bias)


@register_fusion("concat")
class ConcatFusion(FusionBlock):
    """Concatenation followed by a 1x1 projection to ``C`` channels.

    The projection starts as ``[I, 0]`` (identity on ``feat``, zeros on the prior) with zero bias, so the block is
    the identity at initialisation.

    Args:
        channels: ``C``, channels of ``feat``.
        prior_channels: ``Cp``, channels of ``prior``.

    Shape:
        - feat: (B, C, H, W)
        - prior: (B, Cp, h, w), resized to (H, W)
        - confidence: (B, 1, h', w') or (B, h', w'), optional, resized to (H, W): gates the update
        - output: (B, C, H, W)

    Example:
        >>> block = ConcatFusion(8, 4)
        >>> feat = torch.randn(2, 8, 5, 5)
        >>> torch.allclose(block(feat, prior=torch.randn(2, 4, 5, 5)), feat)
        True
    """

    def __init__(self, channels: int, prior_channels: int):
        super().__init__(channels, prior_channels)
        self.proj = nn.Conv2d(channels + prior_channels, channels, 1)
        with torch.no_grad():
            self.proj.weight.zero_()
            self.proj.weight[:, :channels, 0, 0] = torch.eye(channels)
            self.proj.bias.zero_()

    def forward(self, feat: torch.Tensor, *, prior: torch.Tensor,
                confidence: torch.Tensor | None = None) -> torch.Tensor:
        prior = self.prepare(feat, prior)
        confidence = self.prepare_confidence(feat, confidence)
        return gate_update(feat, concat_project(feat, prior, self.proj.weight, self.proj.bias), confidence)
