"""gpt4o-prior: GPT-image restorations as a prior branch for image-restoration networks.

Importing this package loads only torch, numpy and the package itself: BasicSR, MMEngine, MMagic and the OpenAI
SDK are imported by the modules that need them, when they are used.
"""
from .version import __version__

__all__ = ["__version__"]
