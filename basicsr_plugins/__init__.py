"""BasicSR adapter for gpt4o-prior.

Importing this package makes BasicSR 1.4.2 importable beside current torchvision (see :mod:`.compat`) and
registers gpt4o-prior's architectures in BasicSR's registries. It has no other side effect.
"""
from .compat import patch_torchvision

patch_torchvision()

from . import archs  # noqa: E402  (registers G4PNAFNet, G4PNAFNetLocal, G4PRestormer, G4PRetinexformer)

from .datasets import PriorPairedImageDataset, PriorSingleImageDataset  # noqa: E402
from .model import PriorSRModel  # noqa: E402
from . import image_clean, recipe_datasets  # noqa: E402,F401  (ImageCleanModel, Dataset_PairedImage)
from .image_clean import ImageCleanModel, PriorImageCleanModel  # noqa: E402
from .recipe_datasets import Dataset_PairedImage, PriorDataset_PairedImage  # noqa: E402
from .prior_arch import G4PPriorNet  # noqa: E402
from .prior_option import apply_prior_option  # noqa: E402

__all__ = [
    "patch_torchvision",
    "G4PPriorNet",
    "PriorPairedImageDataset",
    "PriorSingleImageDataset",
    "PriorSRModel",
    "ImageCleanModel",
    "PriorImageCleanModel",
    "Dataset_PairedImage",
    "PriorDataset_PairedImage",
    "apply_prior_option",
]
