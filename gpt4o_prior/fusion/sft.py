"""Spatial feature transform: ``feat * (1 + gamma) + beta`` with per-pixel ``gamma``, ``beta`` from the prior."""
from __future__ import annotations

import torch
from torch import nn

from .base import FusionBlock
from .gate import gate_update
from .registry import register_fusion
from .zero import zero_module

__all__ = ["sft_modulate", "SFTFusion"]


def sft_modulate(feat: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Apply ``feat * (1 + gamma) + beta``; zero ``gamma`` and ``beta`` give ``feat`` back exactly.

    Shape:
        - feat: (B, C, H, W); gamma, beta: broadcastable to it, e.g. (B, C, H, W) or (B, C, 1, 1).

    Example:
        >>> x = torch.randn(1, 2, 3, 3)
        >>> torch.equal(sft_modulate(x, torch.zeros_like(x), torch.zeros_like(x)), x)
        True
    """
    return torch.addcmul(beta, feat, 1 + gamma)


@register_fusion("sft")
class SFTFusion(FusionBlock):
    """Spatial feature transform (SFT-GAN style): per-pixel scale and shift predicted from the prior.

    The prior goes through a 1x1 convolution, a GELU and a depthwise ``kernel_size`` convolution; a zero-initialised
    1x1 convolution then predicts ``gamma`` and ``beta``, so the block starts as the identity.

    Args:
        channels: ``C``, channels of ``feat``.
        prior_channels: ``Cp``, channels of ``prior``.
        hidden: width of the predictor (default ``clamp(C // 2, 16, 64)``).
        kernel_size: size of the depthwise convolution (odd).

    Shape:
        - feat: (B, C, H, W)
        - prior: (B, Cp, h, w), resized to (H, W)
        - confidence: (B, 1, h', w') or (B, h', w'), optional, resized to (H, W): gates the update
        - output: (B, C, H, W)

    Example:
        >>> block = SFTFusion(8, 4)
        >>> feat = torch.randn(2, 8, 9, 7)
        >>> torch.equal(block(feat, prior=torch.randn(2, 4, 16, 16)), feat)
        True
        >>> _ = torch.nn.init.normal_(block.to_gamma_beta.weight)  # as if trained
        >>> torch.equal(block(feat, prior=torch.randn(2, 4, 16, 16), confidence=torch.zeros(2, 1, 4, 4)), feat)
        True
    """

    def __init__(self, channels: int, prior_channels: int, *, hidden: int | None = None, kernel_size: int = 3):
        super().__init__(channels, prior_channels)
        hidden = hidden or min(64, max(16, channels // 2))
        self.body = nn.Sequential(
            nn.Conv2d(prior_channels, hidden, 1),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden),
        )
        self.to_gamma_beta = zero_module(nn.Conv2d(hidden, 2 * channels, 1))

    def forward(self, feat: torch.Tensor, *, prior: torch.Tensor,
                confidence: torch.Tensor | None = None) -> torch.Tensor:
        prior = self.prepare(feat, prior)
        confidence = self.prepare_confidence(feat, confidence)
        gamma, beta = self.to_gamma_beta(self.body(prior)).chunk(2, dim=1)
        return gate_update(feat, sft_modulate(feat, gamma, beta), confidence)
