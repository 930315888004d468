"""Register objects into BasicSR's registries explicitly, so that registering twice is harmless.

BasicSR's ``Registry.register`` refuses a name it already holds, which breaks re-imports (``importlib.reload``,
doctest collection, notebooks). :func:`register` skips a name already bound to the same object (or to a
re-imported copy of it: same module and qualified name) and refuses a name bound to something else.
:func:`add_fallback_names` lets names resolve that nothing registered (the names of published option files),
without registering them.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

__all__ = ["register", "add_fallback_names"]

T = TypeVar("T")


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    return (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == (
        getattr(b, "__module__", None), getattr(b, "__qualname__", None))


def register(registry: Any, name: str | None = None) -> Callable[[T], T]:
    """Decorator: register a class or function in a BasicSR ``Registry`` under ``name`` (default: its name).

    Args:
        registry: e.g. ``basicsr.utils.registry.ARCH_REGISTRY``.
        name: registry name; defaults to ``obj.__name__``.

    Returns:
        A decorator returning the object unchanged.

    Raises:
        ValueError: the name is already bound to a different object.

    Example:
        >>> from basicsr.utils.registry import Registry
        >>> reg = Registry("demo")
        >>> def thing(): pass
        >>> _ = register(reg)(thing); _ = register(reg)(thing)  # twice: harmless
        >>> "thing" in reg
        True
    """

    def deco(obj: T) -> T:
        key = name or obj.__name__
        if key in registry:
            existing = registry.get(key)
            if _same(existing, obj):
                if existing is not obj:  # a re-imported copy: point the name at the newest definition
                    registry._obj_map[key] = obj
                return obj
            raise ValueError(f"BasicSR registry '{registry._name}' already holds '{key}' "
                             f"({getattr(existing, '__module__', '?')}); rename one of them")
        if key == obj.__name__:
            registry.register(obj)
        else:  # BasicSR's register() always uses obj.__name__
            registry._obj_map[key] = obj
        return obj

    return deco


def add_fallback_names(registry: Any, table: dict[str, Any]) -> bool:
    """Make ``registry.get(name)`` return ``table[name]`` for a name nothing registered; safe to call again (later
    tables add to the first). Returns True when this call installed the fallback.

    The names are not registered: a user who registers one of them (the fork's own class, say) gets theirs, and
    BasicSR's "already registered" assertion never fires.

    Example:
        >>> from basicsr.utils.registry import Registry
        >>> reg = Registry("demo")
        >>> add_fallback_names(reg, {"Official": int}), reg.get("Official"), "Official" in reg
        (True, <class 'int'>, False)
    """
    fallbacks = getattr(registry, "_g4p_fallbacks", None)
    if fallbacks is not None:
        fallbacks.update(table)
        return False
    fallbacks = registry._g4p_fallbacks = dict(table)
    lookup = registry.get

    def get(name, *args, **kwargs):
        if name not in registry and name in fallbacks:
            return fallbacks[name]
        return lookup(name, *args, **kwargs)

    registry.get = get
    return True
