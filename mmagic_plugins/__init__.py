"""MMagic adapter for gpt4o-prior.

Load it from an MMagic config with ``custom_imports = dict(imports=['mmagic_plugins'], allow_failed_imports=False)``.
Importing it makes MMagic 1.2.0 importable with numpy 2 and mmcv-lite (see :mod:`.compat`); it has no other side
effect beyond registering gpt4o-prior's modules in MMagic's registries.
"""
from .compat import patch_mmagic

patch_mmagic()

__all__ = ["patch_mmagic"]
