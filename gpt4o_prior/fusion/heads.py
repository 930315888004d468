"""Default widths of the attention blocks: the query/key/value width for given channels, and the head count."""
from __future__ import annotations

__all__ = ["default_dim", "default_heads"]


def default_dim(channels: int) -> int:
    """Query/key/value width of the attention blocks for ``channels`` host channels: ``clamp(C // 2, 16, 64)``.

    Narrow at full resolution (where the pixels are many), wider at the coarse levels (where they are few).

    Example:
        >>> default_dim(8), default_dim(32), default_dim(64), default_dim(512)
        (16, 16, 32, 64)
    """
    return min(64, max(16, channels // 2))


def default_heads(dim: int, head_dim: int = 32, max_heads: int = 8) -> int:
    """The largest head count ``<= min(max_heads, dim // head_dim)`` (at least 1) that divides ``dim``.

    Example:
        >>> default_heads(32), default_heads(96), default_heads(512), default_heads(20)
        (1, 3, 8, 1)
    """
    heads = max(1, min(max_heads, dim // head_dim))
    while dim % heads:
        heads -= 1
    return heads
