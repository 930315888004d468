"""Make MMagic 1.2.0 importable with numpy 2 and mmcv-lite.

Two things break ``import mmagic.models`` in an environment that otherwise works (see ``shared/ENV.md``):

* numpy 2 removed ``np.bool8``, which MMagic 1.2.0 still names at import time. :func:`patch_numpy` aliases it to
  ``np.bool_`` (the same type), only when numpy lacks it.
* MMagic imports ``mmcv.ops`` at import time (for BasicVSR++, EDVR, TDAN, StyleGAN), and ``mmcv.ops`` loads the
  compiled extension ``mmcv._ext``. ``mmcv-lite`` (the only mmcv 2.1 that installs without a 20-minute compile)
  has no compiled extension. :func:`patch_mmcv_ext` installs a stand-in ``mmcv._ext`` whose every op raises
  ``NotImplementedError`` with a message saying what to install, only when the real one cannot be imported.
  The restoration models (NAFNet, Restormer, SwinIR, ...) never call these ops; only models built on deformable
  convolutions (BasicVSR++, EDVR, TDAN) fail, with that message.

:func:`patch_mmagic` applies both. Importing :mod:`mmagic_plugins` calls it; if you import ``mmagic`` yourself
before ``mmagic_plugins``, call it first.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types

import numpy as np

__all__ = ["patch_numpy", "patch_mmcv_ext", "patch_mmagic", "MissingMMCVOp"]

_EXT = "mmcv._ext"


class MissingMMCVOp(NotImplementedError):
    """Raised when a model calls a compiled mmcv op that mmcv-lite does not have."""


class _MissingExt(types.ModuleType):
    """Stand-in for ``mmcv._ext``: every attribute is an op that raises :class:`MissingMMCVOp` when called."""

    def __getattr__(self, op: str):
        if op.startswith("__"):
            raise AttributeError(op)

        def missing(*args, **kwargs):
            raise MissingMMCVOp(
                f"mmcv op '{op}' needs the compiled mmcv extension, and this environment has mmcv-lite "
                "(no compiled ops). Restoration models such as NAFNet, Restormer and SwinIR do not need it; "
                "for models with deformable convolutions (BasicVSR++, EDVR, TDAN) install the full "
                "'mmcv>=2.0,<2.2' built for your torch instead of mmcv-lite."
            )

        missing.__name__ = op
        return missing


def patch_numpy() -> bool:
    """Alias ``np.bool8`` to ``np.bool_`` when numpy (2.x) lacks it.

    Returns:
        True when this call added the alias, False when numpy already has ``bool8``.

    Example:
        >>> import numpy as np
        >>> from mmagic_plugins.compat import patch_numpy
        >>> patch_numpy() in (True, False)
        True
        >>> np.bool8 is np.bool_
        True
    """
    if "bool8" in np.__dict__:
        return False
    np.bool8 = np.bool_
    return True


def patch_mmcv_ext() -> bool:
    """Install a stand-in ``mmcv._ext`` when the compiled extension is missing (mmcv-lite).

    Returns:
        True when this call installed the stand-in, False when the real extension (or a stand-in) is there,
        or when mmcv itself is not installed.

    Example:
        >>> from mmagic_plugins.compat import patch_mmcv_ext
        >>> patch_mmcv_ext() in (True, False)
        True
        >>> import mmcv.ops  # imports with mmcv-lite now
    """
    if _EXT in sys.modules:
        return False
    try:
        importlib.import_module(_EXT)
        return False
    except ModuleNotFoundError as err:
        if err.name not in (_EXT, "mmcv"):
            raise
        if err.name == "mmcv":
            return False
    stub = _MissingExt(_EXT, "stand-in for mmcv's compiled ops (mmcv-lite); see mmagic_plugins.compat")
    # A spec with no loader: MMEngine's Runner asks pkgutil.find_loader('mmcv._ext') whether full mmcv is there,
    # which raises for a module whose __spec__ is None; with this spec it answers "no loader", the truth.
    stub.__spec__ = importlib.machinery.ModuleSpec(_EXT, None)
    sys.modules[_EXT] = stub
    import mmcv

    mmcv._ext = stub
    return True


def patch_mmagic() -> None:
    """Apply every shim MMagic 1.2.0 needs here (:func:`patch_numpy`, :func:`patch_mmcv_ext`).

    Example:
        >>> from mmagic_plugins.compat import patch_mmagic
        >>> patch_mmagic()
        >>> import mmagic.models  # doctest: +SKIP
    """
    patch_numpy()
    patch_mmcv_ext()
