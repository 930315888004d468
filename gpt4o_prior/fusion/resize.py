"""Bring prior features to the spatial size of the features they modulate."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["resize_prior"]


def resize_prior(prior: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize ``prior`` to ``size`` with bilinear interpolation; returned as is when it already has that size.

    Args:
        prior: prior features.
        size: target ``(H, W)``.

    Returns:
        The resized features.

    Shape:
        - prior: (B, C, h, w)
        - output: (B, C, H, W)

    Example:
        >>> resize_prior(torch.ones(1, 2, 3, 5), (6, 7)).shape
        torch.Size([1, 2, 6, 7])
    """
    size = (int(size[0]), int(size[1]))
    if tuple(prior.shape[-2:]) == size:
        return prior
    return F.interpolate(prior, size=size, mode="bilinear", align_corners=False)
