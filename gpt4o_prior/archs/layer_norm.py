"""Layer normalisation over the channel axis of ``(B, C, H, W)`` feature maps (NAFNet's ``LayerNorm2d``).

Each pixel's ``C`` values are normalised to zero mean and unit (biased) variance, then scaled and shifted per
channel. Parameter names ``weight`` and ``bias`` (shape ``(C,)``) match NAFNet's official checkpoints.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["layer_norm_2d", "LayerNorm2d"]


def layer_norm_2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Normalise ``x`` over its channel axis, then apply a per-channel affine map.

    Args:
        x: feature maps.
        weight: per-channel scale.
        bias: per-channel shift.
        eps: added to the variance before the square root.

    Shape:
        - x: ``(B, C, H, W)``; weight, bias: ``(C,)``; output: like ``x``.

    Example:
        >>> y = layer_norm_2d(torch.randn(2, 4, 3, 3), torch.ones(4), torch.zeros(4))
        >>> bool(y.mean(1).abs().max() < 1e-5)
        True
    """
    mu = x.mean(1, keepdim=True)
    var = (x - mu).pow(2).mean(1, keepdim=True)
    y = (x - mu) * torch.rsqrt(var + eps)
    return y * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)


class LayerNorm2d(nn.Module):
    """Channel-wise layer norm for ``(B, C, H, W)`` tensors, calling :func:`layer_norm_2d`.

    Args:
        channels: the number of channels ``C``.
        eps: added to the variance (NAFNet uses ``1e-6``).

    Shape:
        - input: ``(B, C, H, W)``; output: same.

    Example:
        >>> LayerNorm2d(8)(torch.randn(1, 8, 5, 7)).shape
        torch.Size([1, 8, 5, 7])
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm_2d(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, eps={self.eps}"
