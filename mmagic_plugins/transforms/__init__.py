"""Data-pipeline transforms for priors, registered in MMagic's ``TRANSFORMS`` registry.

* :class:`LoadPrior`: the aligned prior of ``img`` from a prior cache, by the input file's content hash, and its
  per-pixel confidence (``prior_confidence``, (H, W, 1) float32 in [0, 1]; ``confidence=False``: none).
* :class:`PriorPairedRandomCrop`: MMagic's ``PairedRandomCrop`` that also crops ``prior`` (and its confidence) at
  ``img``'s position.
* :class:`PriorAugment`: training-only prior warp and prior dropout (the confidence warped and dropped with it).

MMagic's ``Flip``, ``RandomTransposeHW`` and ``RandomRotation`` already take a ``keys`` list: add ``'prior'`` and
``'prior_confidence'`` to it. ``PackInputs(keys=['img', 'prior', 'prior_confidence'])`` hands them to the model;
MMagic's ``DataPreprocessor`` normalises the prior exactly as it normalises ``img``, and leaves the confidence as
it is (``PriorEditModel`` makes it a non-image key of its preprocessor).
"""
from .load_prior import LoadPrior
from .paired_crop import PriorPairedRandomCrop
from .prior_augment import PriorAugment

__all__ = ["LoadPrior", "PriorPairedRandomCrop", "PriorAugment"]
