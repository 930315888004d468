"""FiLM: per-channel scale and shift of the host features from pooled prior statistics."""
from __future__ import annotations

import torch
from torch import nn

from .base import FusionBlock
from .gate import gate_update
from .registry import register_fusion
from .sft import sft_modulate
from .zero import zero_module

__all__ = ["pool_mean_std", "FiLMFusion"]


def pool_mean_std(x: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and standard deviation over the spatial dimensions, concatenated.

    Shape:
        - x: (B, C, H, W)
        - output: (B, 2C)

    Example:
        >>> pool_mean_std(torch.ones(2, 3, 4, 4)).tolist()[0]
        [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    """
    flat = x.flatten(2).float()
    mean, std = flat.mean(-1), flat.std(-1, unbiased=False)
    return torch.cat([mean, std], dim=1).to(x.dtype)


@register_fusion("film")
class FiLMFusion(FusionBlock):
    """Feature-wise linear modulation: ``feat * (1 + gamma) + beta`` with ``gamma``, ``beta`` per channel.

    The prior is pooled to its per-channel mean and standard deviation (global colour and contrast), then a
    two-layer MLP whose last layer is zero-initialised predicts ``gamma`` and ``beta``. Cheap and blind to the
    prior's geometry, so misalignment does not matter. The statistics are those of the whole prior; a
    ``confidence`` map gates where the modulation applies, not what is pooled.

    Args:
        channels: ``C``, channels of ``feat``.
        prior_channels: ``Cp``, channels of ``prior``.
        hidden: MLP width (default ``clamp(C, 32, 256)``).

    Shape:
        - feat: (B, C, H, W)
        - prior: (B, Cp, h, w), any size
        - confidence: (B, 1, h', w') or (B, h', w'), optional, resized to (H, W): gates the update
        - output: (B, C, H, W)

    Example:
        >>> block = FiLMFusion(8, 4)
        >>> feat = torch.randn(2, 8, 5, 5)
        >>> torch.equal(block(feat, prior=torch.randn(2, 4, 3, 3)), feat)
        True
    """

    def __init__(self, channels: int, prior_channels: int, *, hidden: int | None = None):
        super().__init__(channels, prior_channels)
        hidden = hidden or min(256, max(32, channels))
        self.mlp = nn.Sequential(nn.Linear(2 * prior_channels, hidden), nn.GELU())
        self.to_gamma_beta = zero_module(nn.Linear(hidden, 2 * channels))

    def forward(self, feat: torch.Tensor, *, prior: torch.Tensor,
                confidence: torch.Tensor | None = None) -> torch.Tensor:
        prior = self.prepare(feat, prior, resize=False)
        confidence = self.prepare_confidence(feat, confidence)
        gamma, beta = self.to_gamma_beta(self.mlp(pool_mean_std(prior)))[..., None, None].chunk(2, dim=1)
        return gate_update(feat, sft_modulate(feat, gamma, beta), confidence)
