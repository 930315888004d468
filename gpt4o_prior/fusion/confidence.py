"""The per-pixel confidence map that gates a fusion block's update: checked, cast and resized to the features.

The prior cache stores, beside each aligned prior, a confidence in [0, 1] of where the prior can be trusted (from
the dense alignment: low where the prior invented content or its motion is inconsistent). Blocks take it as
``confidence`` (B, 1, h, w), or (B, h, w), of any spatial size, and resize it to the features they fuse.
"""
from __future__ import annotations

import torch

from ..checks import check_shape
from .resize import resize_prior

__all__ = ["check_confidence", "prepare_confidence"]


def check_confidence(confidence: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """Check a confidence map and return it as (B, 1, h, w); a (B, h, w) map gets its channel dimension.

    The values are not checked (that would synchronise a GPU at every block): give them in [0, 1]; values outside
    extrapolate the update instead of gating it.

    Args:
        confidence: the map, floating point.
        batch: the batch size it must have, when given.

    Returns:
        The map, (B, 1, h, w) (a view of the input).

    Raises:
        TypeError: ``confidence`` is not a tensor.
        ValueError: another rank or channel count, another batch size, or an integer dtype; the message names
            ``confidence`` and its shape or dtype.

    Shape:
        - confidence: (B, 1, h, w) or (B, h, w)
        - output: (B, 1, h, w)

    Example:
        >>> check_confidence(torch.ones(2, 5, 7)).shape
        torch.Size([2, 1, 5, 7])
        >>> check_confidence(torch.ones(2, 3, 5, 7))
        Traceback (most recent call last):
        ...
        ValueError: confidence must have shape (B, 1, h, w) or (B, h, w), got (2, 3, 5, 7)
    """
    if not isinstance(confidence, torch.Tensor):
        raise TypeError(f"confidence must be a torch.Tensor, got {type(confidence).__name__}")
    if confidence.dim() == 3:
        confidence = confidence.unsqueeze(1)
    try:
        check_shape(confidence, ["B", 1, "h", "w"], "confidence")
    except ValueError:
        raise ValueError(
            f"confidence must have shape (B, 1, h, w) or (B, h, w), got {tuple(confidence.shape)}"
        ) from None
    if not confidence.is_floating_point():
        raise ValueError(
            f"confidence must be a floating-point map in [0, 1], got dtype {confidence.dtype} (shape "
            f"{tuple(confidence.shape)}); divide a uint8 map by 255"
        )
    if batch is not None and confidence.shape[0] != batch:
        raise ValueError(
            f"confidence must have the features' batch size {batch}, got shape {tuple(confidence.shape)}"
        )
    return confidence


def prepare_confidence(feat: torch.Tensor, confidence: torch.Tensor | None) -> torch.Tensor | None:
    """Check ``confidence`` against ``feat``, cast it to ``feat``'s dtype and resize it to ``feat``'s size
    (bilinear, as the prior); ``None`` stays ``None`` (trust the prior everywhere).

    Args:
        feat: the features the block updates.
        confidence: the map, or ``None``.

    Returns:
        (B, 1, H, W) in ``feat``'s dtype, or ``None``.

    Raises:
        ValueError: as :func:`check_confidence`, with the batch size of ``feat``.

    Shape:
        - feat: (B, C, H, W)
        - confidence: (B, 1, h, w) or (B, h, w), any h, w
        - output: (B, 1, H, W)

    Example:
        >>> feat = torch.zeros(2, 8, 6, 6)
        >>> prepare_confidence(feat, torch.ones(2, 1, 3, 3)).shape
        torch.Size([2, 1, 6, 6])
        >>> prepare_confidence(feat, None) is None
        True
    """
    if confidence is None:
        return None
    confidence = check_confidence(confidence, feat.shape[0])
    return resize_prior(confidence.to(dtype=feat.dtype), feat.shape[-2:])
