"""BasicSR adapter for gpt4o-prior.

Importing this package makes BasicSR 1.4.2 importable beside current torchvision (see :mod:`.compat`) and
registers gpt4o-prior's architectures in BasicSR's registries. It has no other side effect.
"""
from .compat import patch_torchvision

patch_torchvision()

__all__ = ["patch_torchvision"]
