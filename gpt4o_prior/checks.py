"""Shape and value checks for public boundaries, with errors that name the tensor and its shape.

Use these instead of bare ``assert`` for anything a user passes in.
"""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["check_shape", "check_same_batch"]


def check_shape(t: torch.Tensor, dims: Sequence[str | int], name: str = "tensor") -> None:
    """Check that ``t`` is a tensor whose shape matches ``dims``.

    Each entry of ``dims`` is an int (that size exactly) or a name (any size). A name used twice must
    have the same size both times.

    Args:
        t: the tensor to check.
        dims: expected dimensions, e.g. ``["B", 3, "H", "W"]``.
        name: the argument's name, used in the error message.

    Raises:
        TypeError: ``t`` is not a tensor.
        ValueError: the number of dimensions or a fixed size differs.

    Example:
        >>> check_shape(torch.zeros(2, 3, 8, 8), ["B", 3, "H", "W"], "prior")
        >>> check_shape(torch.zeros(2, 4, 8), ["B", 3, "H", "W"], "prior")
        Traceback (most recent call last):
        ...
        ValueError: prior must have shape (B, 3, H, W), got (2, 4, 8)
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    want = "(" + ", ".join(str(d) for d in dims) + ")"
    got = tuple(t.shape)
    if t.dim() != len(dims):
        raise ValueError(f"{name} must have shape {want}, got {got}")
    seen: dict[str, int] = {}
    for d, size in zip(dims, got):
        if isinstance(d, int):
            if d != size:
                raise ValueError(f"{name} must have shape {want}, got {got}")
        elif d in seen and seen[d] != size:
            raise ValueError(f"{name} must have shape {want}, got {got} ({d} differs)")
        else:
            seen[d] = size


def check_same_batch(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("x", "prior")) -> None:
    """Check that two tensors have the same batch size.

    Example:
        >>> check_same_batch(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 8, 8))
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same batch size, got {a.shape[0]} and {b.shape[0]}"
        )
