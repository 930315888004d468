"""gpt4o-prior: GPT-image restorations as a prior branch for image-restoration networks.

Importing this package loads only torch, numpy, einops and the package itself: BasicSR, MMEngine, MMagic, timm
and the OpenAI SDK are imported by the modules that need them, when they are used.

Example:
    >>> import torch
    >>> from gpt4o_prior import attach_prior, list_fusions
    >>> "sft" in list_fusions()
    True
"""
from .attach import HostLoadReport, PriorNet, attach_prior, auto_attach_points
from .encoder import PriorEncoder
from .fusion import create_fusion, list_fusions, register_fusion
from .version import __version__

__all__ = [
    "__version__",
    "attach_prior",
    "auto_attach_points",
    "HostLoadReport",
    "PriorNet",
    "PriorEncoder",
    "create_fusion",
    "list_fusions",
    "register_fusion",
]
