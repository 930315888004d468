"""MMagic adapter for gpt4o-prior.

Load it from an MMagic config with ``custom_imports = dict(imports=['mmagic_plugins'], allow_failed_imports=False)``.
Importing it makes MMagic 1.2.0 importable with numpy 2 and mmcv-lite (see :mod:`.compat`); it has no other side
effect beyond registering gpt4o-prior's modules in MMagic's registries.
"""
from .compat import patch_mmagic

patch_mmagic()

from . import archs, model, runner, save_outputs, transforms  # noqa: E402,F401  (registration)
from .config import apply_prior  # noqa: E402
from .model import PriorEditModel  # noqa: E402
from .runner import PriorRunner  # noqa: E402
from .save_outputs import SaveRestored  # noqa: E402
from .transforms import LoadPrior, PriorAugment, PriorPairedRandomCrop  # noqa: E402

__all__ = [
    "patch_mmagic",
    "apply_prior",
    "PriorEditModel",
    "PriorRunner",
    "SaveRestored",
    "LoadPrior",
    "PriorAugment",
    "PriorPairedRandomCrop",
]
