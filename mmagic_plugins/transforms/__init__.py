"""Data-pipeline transforms for priors, registered in MMagic's ``TRANSFORMS`` registry.

* :class:`LoadPrior`: the aligned prior of ``img`` from a prior cache, by the input file's content hash.
* :class:`PriorPairedRandomCrop`: MMagic's ``PairedRandomCrop`` that also crops ``prior`` at ``img``'s position.
* :class:`PriorAugment`: training-only prior warp and prior dropout.

MMagic's ``Flip``, ``RandomTransposeHW`` and ``RandomRotation`` already take a ``keys`` list: add ``'prior'`` to
it. ``PackInputs(keys=['img', 'prior'])`` hands both to the model, and MMagic's ``DataPreprocessor`` normalises
the prior exactly as it normalises ``img``.
"""
from .load_prior import LoadPrior
from .paired_crop import PriorPairedRandomCrop
from .prior_augment import PriorAugment

__all__ = ["LoadPrior", "PriorPairedRandomCrop", "PriorAugment"]
