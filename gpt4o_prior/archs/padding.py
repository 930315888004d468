"""Pad an image batch up to a multiple of a network's total stride, and crop the result back.

U-Nets that downsample ``n`` times need sides divisible by ``2 ** n``. The baselines in this package pad inside
``forward`` with :func:`pad_to_multiple` and crop their output with :func:`crop_to`, so they accept any size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["pad_amount", "pad_to_multiple", "crop_to"]

_MODES = ("constant", "reflect", "replicate")


def pad_amount(size: int, multiple: int) -> int:
    """How many pixels to add to ``size`` so that it becomes a multiple of ``multiple``.

    Example:
        >>> pad_amount(13, 8), pad_amount(16, 8), pad_amount(5, 1)
        (3, 0, 0)
    """
    if multiple < 1:
        raise ValueError(f"multiple must be a positive integer, got {multiple}")
    return (multiple - size % multiple) % multiple


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "constant") -> torch.Tensor:
    """Pad the bottom and right of ``x`` so that its height and width are multiples of ``multiple``.

    Args:
        x: a batch of images or feature maps.
        multiple: the required divisor of height and width (e.g. 16 for a U-Net that downsamples 4 times).
        mode: ``"constant"`` (zeros), ``"reflect"`` or ``"replicate"``. ``"reflect"`` needs the padding to be
            smaller than the side; where it is not (tiny images), ``"replicate"`` is used instead.

    Returns:
        The padded tensor (``x`` itself when nothing is needed).

    Shape:
        - x: ``(B, C, H, W)``
        - output: ``(B, C, H', W')`` with ``H' = ceil(H / multiple) * multiple``, likewise ``W'``.

    Example:
        >>> pad_to_multiple(torch.ones(1, 3, 13, 16), 8, mode="reflect").shape
        torch.Size([1, 3, 16, 16])
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    h, w = x.shape[-2:]
    ph, pw = pad_amount(h, multiple), pad_amount(w, multiple)
    if ph == 0 and pw == 0:
        return x
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Keep the top-left ``height x width`` of ``x`` (undoes :func:`pad_to_multiple`).

    Example:
        >>> crop_to(torch.zeros(1, 3, 16, 16), 13, 15).shape
        torch.Size([1, 3, 13, 15])
    """
    return x[..., :height, :width]
