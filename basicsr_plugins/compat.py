"""Make BasicSR 1.4.2 importable beside current torchvision.

BasicSR 1.4.2 (its last release) imports ``torchvision.transforms.functional_tensor``, which torchvision renamed
to ``torchvision.transforms._functional_tensor`` (BasicSR issues #533 and #663; fixed on BasicSR's master but
never released). :func:`patch_torchvision` registers the old name as an alias of the new module, and only when
the old name is really missing. Importing :mod:`basicsr_plugins` calls it; if you import ``basicsr`` yourself
before ``basicsr_plugins``, call it first.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys

__all__ = ["patch_torchvision"]

_OLD = "torchvision.transforms.functional_tensor"
_NEW = "torchvision.transforms._functional_tensor"


def patch_torchvision() -> bool:
    """Alias ``torchvision.transforms.functional_tensor`` to its new name when torchvision lacks it.

    Returns:
        True when the alias was installed by this call, False when nothing was needed (torchvision still has
        the old module, or the alias is already there).

    Example:
        >>> from basicsr_plugins.compat import patch_torchvision
        >>> patch_torchvision() in (True, False)
        True
        >>> import basicsr  # now imports with current torchvision
    """
    if _OLD in sys.modules:
        return False
    try:
        if importlib.util.find_spec(_OLD) is not None:
            return False
    except ModuleNotFoundError:  # torchvision itself missing: nothing to alias
        return False
    sys.modules[_OLD] = importlib.import_module(_NEW)
    return True
