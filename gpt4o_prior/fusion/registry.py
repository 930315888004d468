"""Registry and factory of fusion blocks: ``create_fusion(kind, channels, prior_channels, **kw)``.

Blocks register themselves explicitly with :func:`register_fusion` when their module is imported; nothing scans
folders. :func:`create_fusion` takes a registered name, a class or any callable that builds a block, as timm's
``get_act_layer`` does.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from torch import nn

__all__ = ["register_fusion", "create_fusion", "list_fusions", "get_fusion_class"]

_FUSIONS: dict[str, type[nn.Module]] = {}

T = TypeVar("T", bound=type)


def register_fusion(name: str) -> Callable[[T], T]:
    """Class decorator that registers a fusion block under ``name``.

    Args:
        name: the name given to :func:`create_fusion` and listed by :func:`list_fusions`.

    Returns:
        The decorator; it returns the class unchanged.

    Example:
        >>> from gpt4o_prior.fusion import register_fusion, list_fusions
        >>> "sft" in list_fusions()
        True
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_fusion needs a non-empty name, got {name!r}")

    def deco(cls: T) -> T:
        other = _FUSIONS.get(name)
        if other is not None and other is not cls:
            raise ValueError(f"fusion {name!r} is already registered by {other.__module__}.{other.__qualname__}")
        _FUSIONS[name] = cls
        cls.kind = name
        return cls

    return deco


def list_fusions() -> list[str]:
    """Names of the registered fusion blocks, sorted.

    Example:
        >>> from gpt4o_prior.fusion import list_fusions
        >>> list_fusions()
        ['channel_attention', 'concat', 'cross_attention', 'deformable', 'film', 'input_concat', 'sft', 'zero_add']
    """
    return sorted(_FUSIONS)


def get_fusion_class(kind: str | type | Callable) -> type | Callable:
    """Resolve ``kind`` (a name, a class or a callable) to what builds the block.

    Raises:
        KeyError: an unknown name; the message lists the registered ones.
        TypeError: ``kind`` is neither a string nor callable.

    Example:
        >>> from gpt4o_prior.fusion import get_fusion_class
        >>> get_fusion_class("sft").__name__
        'SFTFusion'
    """
    if isinstance(kind, str):
        try:
            return _FUSIONS[kind]
        except KeyError:
            raise KeyError(f"unknown fusion {kind!r}; registered fusions: {', '.join(list_fusions())}") from None
    if callable(kind):
        return kind
    raise TypeError(f"fusion must be a registered name, a class or a callable, got {type(kind).__name__}")


def create_fusion(kind: str | type | Callable, channels: int, prior_channels: int, **kwargs) -> nn.Module:
    """Build a fusion block.

    Args:
        kind: a registered name (see :func:`list_fusions`), a block class, or a callable
            ``(channels, prior_channels, **kwargs) -> nn.Module``.
        channels: channels ``C`` of the host features the block modulates.
        prior_channels: channels ``Cp`` of the prior features it reads.
        **kwargs: the block's own keyword arguments (e.g. ``window=8`` for ``cross_attention``).

    Returns:
        An ``nn.Module`` with ``forward(feat, *, prior, confidence=None)``, the identity at initialisation.

    Example:
        >>> import torch
        >>> from gpt4o_prior.fusion import create_fusion
        >>> block = create_fusion("sft", 8, 4)
        >>> feat, prior = torch.randn(1, 8, 5, 5), torch.randn(1, 4, 10, 10)
        >>> torch.equal(block(feat, prior=prior), feat)
        True
    """
    builder = get_fusion_class(kind)
    block = builder(channels, prior_channels, **kwargs)
    if not isinstance(block, nn.Module):
        raise TypeError(f"fusion {kind!r} built a {type(block).__name__}, not an nn.Module")
    return block
