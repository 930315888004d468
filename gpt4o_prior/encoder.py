"""Prior encoder: multi-scale features of the prior image, computed once per forward and shared by all fusion points.

By default a small convolutional pyramid (one level per factor of 2); optionally any ``timm`` backbone built with
``features_only=True``. Each fusion point reads the level whose stride is nearest its own (:meth:`level_for`).

A custom encoder works too: any ``nn.Module`` whose ``forward(prior)`` returns a list of (B, C_i, H_i, W_i) tensors,
with attributes ``channels`` (the C_i) and ``strides`` (each level's downsampling factor relative to the prior).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .checks import check_shape

__all__ = ["PriorEncoder", "nearest_level"]


def nearest_level(strides: Sequence[float], stride: float) -> int:
    """Index of the stride nearest ``stride`` on a log scale (the finer one on a tie).

    Example:
        >>> nearest_level([1, 2, 4, 8], 4), nearest_level([2, 4, 8, 16, 32], 1), nearest_level([1, 2], 0.25)
        (2, 0, 0)
    """
    target = math.log2(max(stride, 1e-6))
    return min(range(len(strides)), key=lambda i: (abs(math.log2(strides[i]) - target), i))


class _ResBlock(nn.Module):
    """``x + pw2(GELU(pw1(dw3x3(x))))``: a cheap residual block (depthwise 3x3, then a 2x expanded 1x1 MLP)."""

    def __init__(self, c: int):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.pw1 = nn.Conv2d(c, 2 * c, 1)
        self.act = nn.GELU()
        self.pw2 = nn.Conv2d(2 * c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pw2(self.act(self.pw1(self.dw(x))))


class PriorEncoder(nn.Module):
    """Multi-scale features of the prior image.

    Without ``backbone``: a 3x3 stem, then per level a residual block, levels joined by stride-2 3x3 convolutions
    (so level ``i`` has size ``ceil(H / 2**i)``, matching hosts that pad to a multiple and halve). With
    ``backbone``: ``timm.create_model(backbone, pretrained=pretrained, features_only=True, ...)``; the prior is
    normalised with the backbone's mean and std first (it is taken to be in [0, 1], like the host's input).
    ``timm`` is imported only then, and nothing is downloaded unless ``pretrained=True``.

    Args:
        in_channels: channels of the prior image.
        levels: number of pyramid levels (conv pyramid only); strides ``1, 2, ..., 2**(levels - 1)``.
        widths: channels per level (conv pyramid only; default ``min(16 * 2**i, 128)``).
        backbone: name of a timm model to use instead of the pyramid.
        pretrained: load the timm backbone's pretrained weights (downloads them; off by default).
        out_indices: which backbone stages to return (timm's argument; default all).

    Attributes:
        channels: channels of each returned level.
        strides: downsampling factor of each level relative to the prior.

    Shape:
        - prior: (B, in_channels, H, W)
        - output: list of (B, channels[i], ~H / strides[i], ~W / strides[i])

    Example:
        >>> enc = PriorEncoder(levels=3)
        >>> [tuple(f.shape) for f in enc(torch.rand(2, 3, 13, 10))]
        [(2, 16, 13, 10), (2, 32, 7, 5), (2, 64, 4, 3)]
        >>> enc.strides, enc.level_for(2.0)
        ([1, 2, 4], 1)
    """

    def __init__(self, in_channels: int = 3, *, levels: int = 4, widths: Sequence[int] | None = None,
                 backbone: str | None = None, pretrained: bool = False, out_indices: Sequence[int] | None = None):
        super().__init__()
        self.in_channels = int(in_channels)
        self.backbone_name = backbone
        if backbone is None:
            if widths is None:
                if levels < 1:
                    raise ValueError(f"PriorEncoder: levels must be >= 1, got {levels}")
                widths = [min(16 * 2**i, 128) for i in range(levels)]
            widths = [int(w) for w in widths]
            if not widths:
                raise ValueError("PriorEncoder: widths must name at least one level")
            levels = len(widths)
            self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1)
            self.downs = nn.ModuleList(
                nn.Conv2d(widths[i - 1], widths[i], 3, stride=2, padding=1) for i in range(1, levels)
            )
            self.blocks = nn.ModuleList(_ResBlock(w) for w in widths)
            self.channels = list(widths)
            self.strides = [2**i for i in range(levels)]
        else:
            import timm  # optional dependency, imported only for a timm backbone

            kw = {} if out_indices is None else {"out_indices": tuple(out_indices)}
            self.backbone = timm.create_model(backbone, pretrained=pretrained, features_only=True,
                                              in_chans=in_channels, **kw)
            self.channels = list(self.backbone.feature_info.channels())
            self.strides = list(self.backbone.feature_info.reduction())
            cfg = getattr(self.backbone, "pretrained_cfg", None) or {}
            mean = list(cfg.get("mean", (0.485, 0.456, 0.406)))
            std = list(cfg.get("std", (0.229, 0.224, 0.225)))
            if len(mean) != in_channels:
                mean, std = [sum(mean) / len(mean)] * in_channels, [sum(std) / len(std)] * in_channels
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def level_for(self, stride: float) -> int:
        """The level whose stride is nearest ``stride`` (on a log scale)."""
        return nearest_level(self.strides, stride)

    def forward(self, prior: torch.Tensor) -> list[torch.Tensor]:
        check_shape(prior, ["B", self.in_channels, "H", "W"], "prior")
        if self.backbone_name is not None:
            return list(self.backbone((prior - self.mean.to(prior.dtype)) / self.std.to(prior.dtype)))
        x = self.blocks[0](self.stem(prior))
        feats = [x]
        for down, block in zip(self.downs, self.blocks[1:]):
            x = block(down(x))
            feats.append(x)
        return feats

    def extra_repr(self) -> str:
        return f"channels={self.channels}, strides={self.strides}"
