"""Local average pooling that stands in for global pooling at test time (test-time local converter, TLC).

A network trained on crops pools statistics over a whole ``256 x 256`` crop; at test time, on a full image, a
global pool averages over a much larger area and the statistics shift. Chu et al. ("Revisiting Global Statistics
Aggregation for Improving Image Restoration", arXiv:2112.04491) pool over a window of about the training extent
instead. NAFNet's ``NAFNetLocal`` uses it; see :mod:`gpt4o_prior.archs.nafnet_local`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["local_avg_pool2d", "LocalAvgPool2d"]


def local_avg_pool2d(x: torch.Tensor, kernel_size: Sequence[int]) -> torch.Tensor:
    """Mean over every ``kh x kw`` window, padded back to the input size; a global mean when the window covers x.

    The window sums come from an integral image (cumulative sums), so the cost does not depend on the window.
    Windows never leave the image: the ``(H - kh + 1) x (W - kw + 1)`` valid means are extended to ``H x W`` by
    repeating the border values, split evenly (one more at the bottom / right when odd).

    Args:
        x: feature maps.
        kernel_size: window ``(kh, kw)``.

    Returns:
        ``(B, C, 1, 1)`` means when ``kh >= H`` and ``kw >= W``; otherwise ``(B, C, H, W)`` local means.

    Example:
        >>> x = torch.arange(16.0).view(1, 1, 4, 4)
        >>> local_avg_pool2d(x, (8, 8)).flatten().tolist()
        [7.5]
        >>> local_avg_pool2d(x, (2, 2))[0, 0, 0].tolist()
        [2.5, 3.5, 4.5, 4.5]
    """
    kh, kw = int(kernel_size[0]), int(kernel_size[1])
    h, w = x.shape[-2:]
    if kh >= h and kw >= w:
        return F.adaptive_avg_pool2d(x, 1)
    kh, kw = min(kh, h), min(kw, w)
    s = F.pad(x.cumsum(dim=-1).cumsum(dim=-2), (1, 0, 1, 0))
    out = (s[..., kh:, kw:] - s[..., :-kh, kw:] - s[..., kh:, :-kw] + s[..., :-kh, :-kw]) / (kh * kw)
    dh, dw = h - out.shape[-2], w - out.shape[-1]
    return F.pad(out, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode="replicate")


class LocalAvgPool2d(nn.Module):
    """Module form of :func:`local_avg_pool2d` with a fixed window (no parameters).

    Args:
        kernel_size: window ``(kh, kw)``.

    Shape:
        - input: ``(B, C, H, W)``; output: ``(B, C, H, W)``, or ``(B, C, 1, 1)`` when the window covers the input.

    Example:
        >>> LocalAvgPool2d((3, 3))(torch.rand(1, 2, 8, 8)).shape
        torch.Size([1, 2, 8, 8])
    """

    def __init__(self, kernel_size: Sequence[int]):
        super().__init__()
        self.kernel_size = (int(kernel_size[0]), int(kernel_size[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return local_avg_pool2d(x, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"
