"""Inputs without a prior: which ones (:func:`missing_priors`), the command that fills them (:func:`fill_command`)
and the one error every loader raises for them (:class:`~gpt4o_prior.cache.errors.PriorMissingError`, built by
:func:`missing_priors_error`).

The BasicSR datasets, the MMagic runner and transform, ``restore`` and the cache's own ``load_prior`` all say the
same thing the same way: how many inputs of which set lack a prior, the first few of them, and a command that
fills the cache, runnable as printed for sets whose provider runs from the command line (the model and the task
come from the set's record; a set unknown to the cache gets placeholders to fill in).

Example:
    >>> from gpt4o_prior.cache import PriorSet
    >>> fill_command(PriorSet(name="s", provider="openai-images", model="gpt-image-1.5", prompt_id="dehaze"),
    ...              "data/hazy", "priors")
    'gpt4o-prior generate data/hazy --cache priors --set s --task dehaze --model gpt-image-1.5'
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any, Sequence

from .errors import PriorMissingError, UnknownSetError

__all__ = ["SHOW_MISSING", "missing_priors", "fill_command", "set_fill_command", "missing_priors_error"]

#: How many inputs without a prior an error lists.
SHOW_MISSING = 10


def missing_priors(cache: Any, set_name: str, paths: Sequence[str | os.PathLike]) -> list[str]:
    """The inputs among ``paths`` without a usable (status ``ok``) prior of ``set_name`` in ``cache``.

    Each file is hashed once per version (:meth:`~gpt4o_prior.cache.PriorCache.input_sha256`, so the loads that
    follow do not hash it again) and the hash looked up; no prior image is read.

    Example:
        >>> import tempfile
        >>> from gpt4o_prior.cache import PriorCache
        >>> missing_priors(PriorCache(tempfile.mkdtemp()), "s", [])
        []
    """
    out = []
    for path in paths:
        entry = cache.find(set_name, cache.input_sha256(path))
        if entry is None or entry.status != "ok":
            out.append(str(path))
    return out


def _quote(value: str) -> str:
    """Shell-quote a value; ``<...>`` placeholders stay readable (the user replaces them)."""
    return value if value.startswith("<") and value.endswith(">") else shlex.quote(value)


def fill_command(pset: Any, folder: str | os.PathLike, cache_root: str | os.PathLike,
                 set_name: str | None = None) -> str:
    """The ``gpt4o-prior`` command that fills ``folder``'s priors into the set.

    Args:
        pset: the set's :class:`~gpt4o_prior.cache.PriorSet`, or None when the cache does not know the set (the
            command then has ``<task>`` / ``<image model>`` placeholders).
        folder: the folder of the inputs.
        cache_root: the cache folder.
        set_name: the set's name (default ``pset.name``).

    Returns:
        One shell command line (paths quoted where they need it; ``<...>`` placeholders where the cache does not
        know a value).
    """
    name = set_name or getattr(pset, "name", None) or "<set>"
    base = f"--cache {_quote(str(cache_root))} --set {_quote(name)}"
    provider = getattr(pset, "provider", None)
    if provider in ("released", "released-gpt"):
        return f"gpt4o-prior import <folder of released outputs> --inputs {_quote(str(folder))} {base}"
    head = f"gpt4o-prior generate {_quote(str(folder))} {base}"
    params = dict(getattr(pset, "params", None) or {})
    if provider == "classical":
        return f"{head} --provider classical --task {_quote(str(params.get('task', '<task>')))}"
    if provider == "simulated":
        preset = params.get("preset", "mild")
        return f"{head} --provider simulated --preset {_quote(str(preset))} --targets <folder of clean images>"
    task = getattr(pset, "prompt_id", None) or "<task>"
    model = getattr(pset, "model", None) or "<image model>"
    return f"{head} --task {_quote(task)} --model {_quote(model)}"


def set_fill_command(cache: Any, set_name: str, folder: str | os.PathLike) -> str:
    """:func:`fill_command` for the set ``set_name`` as ``cache`` records it (placeholders if it does not)."""
    try:
        pset = cache.get_set(set_name)
    except UnknownSetError:
        pset = None
    return fill_command(pset, folder, cache.root, set_name)


def missing_priors_error(missing: Sequence[str | os.PathLike], *, total: int, set_name: str, cache: Any,
                         where: str | None = None, advice: str | None = None) -> PriorMissingError:
    """The error for ``missing`` inputs (of ``total``) without a prior of ``set_name`` in ``cache``.

    Args:
        missing: the inputs without a prior (the first :data:`SHOW_MISSING` are listed).
        total: how many inputs were checked.
        set_name: the set.
        cache: the :class:`~gpt4o_prior.cache.PriorCache`.
        where: who is asking (a dataset's name), put first.
        advice: what else the user can do, after the command (e.g. the fallback option of the caller).

    Returns:
        a :class:`~gpt4o_prior.cache.errors.PriorMissingError` (``missing``, ``set_name``, ``command`` set), to raise.
    """
    missing = [str(m) for m in missing]
    command = set_fill_command(cache, set_name, Path(missing[0]).parent if missing else "<input folder>")
    shown = "\n  ".join(missing[:SHOW_MISSING])
    more = f"\n  ... and {len(missing) - SHOW_MISSING} more" if len(missing) > SHOW_MISSING else ""
    head = f"{where}: " if where else ""
    message = (f"{head}{len(missing)} of {total} inputs have no prior of set {set_name!r} in the cache {cache.root}:"
               f"\n  {shown}{more}\nFill the cache first: `{command}`" + (f"; {advice}" if advice else "."))
    return PriorMissingError(set_name, missing[0] if missing else "", missing=missing, command=command,
                             message=message, cache_root=str(cache.root))
