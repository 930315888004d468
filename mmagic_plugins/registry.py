"""MMagic's registries, imported quietly, and a helper that registers into them safely.

Everything the MMagic adapter registers goes into MMagic's own registries (``mmagic.registry.MODELS``,
``TRANSFORMS``, ``METRICS``, ``RUNNERS``), so plain type names such as ``'PriorEditModel'`` resolve under
``default_scope = 'mmagic'``, as MMagic's own configs set it.

This module also defines :data:`RUNNERS`, a registry with the scope ``mmagic_plugins``: MMEngine resolves a
scoped type name ``'mmagic_plugins.PriorRunner'`` by importing ``mmagic_plugins.registry`` (this module), so a
config can name the runner without a ``custom_imports`` line.

MMagic 1.2.0 imports diffusers, which prints deprecation warnings at import time; they are silenced here, around
the one import, and nowhere else.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, TypeVar

from .compat import patch_mmagic

patch_mmagic()  # idempotent; needed when a submodule is imported before the package's __init__ has run

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)
    warnings.simplefilter("ignore", UserWarning)
    from mmagic import registry as mmagic_registry  # noqa: E402

from mmengine.registry import RUNNERS as MMENGINE_RUNNERS  # noqa: E402
from mmengine.registry import Registry  # noqa: E402

__all__ = ["MODELS", "TRANSFORMS", "METRICS", "MMAGIC_RUNNERS", "RUNNERS", "register"]

MODELS = mmagic_registry.MODELS
TRANSFORMS = mmagic_registry.TRANSFORMS
METRICS = mmagic_registry.METRICS
MMAGIC_RUNNERS = mmagic_registry.RUNNERS

RUNNERS = Registry("runner", parent=MMENGINE_RUNNERS, scope="mmagic_plugins", locations=["mmagic_plugins.runner"])
"""Runner registry of the ``mmagic_plugins`` scope (holds :class:`~mmagic_plugins.runner.PriorRunner`)."""

T = TypeVar("T")


def _same(a: Any, b: Any) -> bool:
    return a is b or (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == (
        getattr(b, "__module__", None), getattr(b, "__qualname__", None))


def register(registry: Any, name: str | None = None) -> Callable[[T], T]:
    """Decorator: register a class in an MMEngine registry; registering the same class again is harmless.

    MMEngine refuses a name it already holds unless forced, which breaks re-imports (``importlib.reload``,
    notebooks). This skips a name bound to the same class (or a re-imported copy of it) and refuses a name bound
    to a different class, instead of silently replacing it.

    Args:
        registry: an ``mmengine.registry.Registry``, e.g. :data:`MODELS`.
        name: registered name; defaults to the class name.

    Returns:
        A decorator returning the class unchanged.

    Raises:
        KeyError: the name is already bound to a different class.

    Example:
        >>> from mmengine.registry import Registry
        >>> reg = Registry("demo")
        >>> class Thing: pass
        >>> _ = register(reg)(Thing); _ = register(reg)(Thing)  # twice: harmless
        >>> reg.get("Thing") is Thing
        True
    """

    def deco(cls: T) -> T:
        key = name or cls.__name__
        existing = registry.module_dict.get(key)
        if existing is not None and not _same(existing, cls):
            raise KeyError(f"registry '{registry.name}' (scope '{registry.scope}') already holds '{key}' from "
                           f"{getattr(existing, '__module__', '?')}; rename one of them")
        registry.register_module(name=key, module=cls, force=existing is not None)
        return cls

    return deco
