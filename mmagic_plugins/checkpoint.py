"""Save and load MMEngine checkpoints that ``torch.load(..., weights_only=True)`` accepts.

Since PyTorch 2.6 ``torch.load`` loads only tensors and plain data unless told otherwise, and MMEngine 0.10 calls
it with the default. A checkpoint that MMEngine's ``CheckpointHook`` saves holds the message hub's
``HistoryBuffer`` objects, whose pickled state refers to bound methods through ``getattr``, which a weights-only
load rightly refuses; so ``load_from`` / ``resume`` of MMEngine's own checkpoints fail.

* :func:`plain_message_hub_state` / :func:`restore_message_hub_state` turn each ``HistoryBuffer`` into plain
  lists and back; :class:`~mmagic_plugins.runner.PriorRunner` saves the plain form and rebuilds the buffers when
  it loads, so its checkpoints load weights-only.
* :func:`mmengine_safe_globals` allows NumPy arrays and dtypes (data, no code) for one load, for checkpoints
  whose metadata holds NumPy values.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import re
from typing import Iterator

import torch

__all__ = ["ALLOWED_GLOBALS", "mmengine_safe_globals", "allowed_globals_in", "plain_message_hub_state",
           "restore_message_hub_state"]

PLAIN_BUFFER = "__plain_history_buffer__"
"""Marker key of a ``HistoryBuffer`` saved as plain lists."""

ALLOWED_GLOBALS = (
    r"numpy\.(_core|core)\.multiarray\.(_reconstruct|scalar)",
    r"numpy\.ndarray",
    r"numpy\.dtype",
    r"numpy\.dtypes\.\w+DType",
)
"""Patterns of the data types (full dotted names) allowed besides tensors: NumPy arrays, scalars and dtypes."""


def _resolve(name: str):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def allowed_globals_in(filename: str | os.PathLike) -> list:
    """The non-tensor types a checkpoint file needs that :data:`ALLOWED_GLOBALS` allows, as objects.

    Types it needs outside the allowed list are not returned: ``torch.load`` then refuses the file itself,
    naming them.

    Args:
        filename: a local checkpoint file (``torch.save`` zip format).

    Returns:
        The classes / functions to allow.

    Example:
        >>> import tempfile, numpy as np
        >>> path = tempfile.mktemp(suffix='.pth')
        >>> torch.save({'w': torch.zeros(1), 'a': np.zeros(2)}, path)
        >>> names = [getattr(o, '__name__', '') for o in allowed_globals_in(path)]
        >>> 'ndarray' in names, 'Float64DType' in names
        (True, True)
    """
    names = torch.serialization.get_unsafe_globals_in_checkpoint(os.fspath(filename))
    out = []
    for name in names:
        if any(re.fullmatch(p, name) for p in ALLOWED_GLOBALS):
            with contextlib.suppress(ImportError, AttributeError):
                out.append(_resolve(name))
    if "numpy.dtype" in names:  # a pickled dtype is rebuilt through its class, which the scan does not list
        import numpy as np

        out += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return out


@contextlib.contextmanager
def mmengine_safe_globals(filename: str | os.PathLike) -> Iterator[None]:
    """Within the block, weights-only ``torch.load`` of ``filename`` accepts MMEngine's data types.

    Files that are not local (URLs, other backends) or not in the zip format get no extra types.

    Args:
        filename: the checkpoint about to be loaded.

    Example:
        >>> import tempfile, numpy as np
        >>> path = tempfile.mktemp(suffix='.pth')
        >>> torch.save({'meta': {'a': np.arange(3)}}, path)
        >>> with mmengine_safe_globals(path):
        ...     torch.load(path, weights_only=True)['meta']['a'].tolist()
        [0, 1, 2]
    """
    extra = []
    if isinstance(filename, (str, os.PathLike)) and os.path.isfile(filename):
        with contextlib.suppress(RuntimeError, ValueError, OSError):  # e.g. a legacy (non-zip) file
            extra = allowed_globals_in(filename)
    if not extra:
        yield
        return
    with torch.serialization.safe_globals(extra):
        yield


def plain_message_hub_state(state: dict) -> dict:
    """A copy of ``MessageHub.state_dict()`` with every ``HistoryBuffer`` as plain lists (weights-only loadable).

    Example:
        >>> from mmengine.logging import HistoryBuffer
        >>> plain = plain_message_hub_state(dict(log_scalars={'loss': HistoryBuffer([1.0, 2.0], [1, 1])},
        ...                                      runtime_info={}, resumed_keys={}))
        >>> plain['log_scalars']['loss']['log_history']
        [1.0, 2.0]
        >>> float(restore_message_hub_state(plain)['log_scalars']['loss'].mean())
        1.5
    """
    from mmengine.logging import HistoryBuffer

    out = dict(state)
    scalars = {}
    for key, buf in (state.get("log_scalars") or {}).items():
        if isinstance(buf, HistoryBuffer):
            log, count = buf.data
            buf = {PLAIN_BUFFER: True, "log_history": log.tolist(), "count_history": count.tolist(),
                   "max_length": int(buf.max_length)}
        scalars[key] = buf
    out["log_scalars"] = scalars
    return out


def restore_message_hub_state(state: dict) -> dict:
    """Undo :func:`plain_message_hub_state`: plain buffers become ``HistoryBuffer`` objects again."""
    from mmengine.logging import HistoryBuffer

    out = dict(state)
    scalars = {}
    for key, buf in (state.get("log_scalars") or {}).items():
        if isinstance(buf, dict) and buf.get(PLAIN_BUFFER):
            buf = HistoryBuffer(buf["log_history"], buf["count_history"], max_length=buf["max_length"])
        scalars[key] = buf
    out["log_scalars"] = scalars
    return out
