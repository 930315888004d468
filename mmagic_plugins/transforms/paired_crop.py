"""``PriorPairedRandomCrop``: MMagic's ``PairedRandomCrop`` that crops the prior with the input."""
from __future__ import annotations

from mmagic.datasets.transforms import PairedRandomCrop

from gpt4o_prior.augment import paired_random_crop

from ..registry import TRANSFORMS, register

__all__ = ["PriorPairedRandomCrop"]


@register(TRANSFORMS)
class PriorPairedRandomCrop(PairedRandomCrop):
    """Crop ``img``, ``gt`` and ``prior`` at one random position (MMagic's ``PairedRandomCrop`` takes two keys).

    Takes ``PairedRandomCrop``'s arguments and draws the position as it does (top, then left, from NumPy's global
    random state, which MMEngine seeds per worker), so ``img`` and ``gt`` get the very crop ``PairedRandomCrop``
    would give. The prior has the input's size and is cropped like the input
    (:func:`gpt4o_prior.augment.paired_random_crop`), and so is its confidence ``prior_confidence`` (from
    ``LoadPrior``) wherever the results carry one: the same box, so each prior pixel keeps its confidence. Without
    ``prior`` in the results it is ``PairedRandomCrop``.

    Required keys: ``scale``, ``img``, ``gt`` (and ``prior``; ``prior_confidence`` optional). Modified keys: the
    same.

    Args:
        gt_patch_size: ground-truth patch size.
        lq_key: key of the input. Default ``'img'``.
        gt_key: key of the ground truth. Default ``'gt'``.
        prior_key: key of the prior. Default ``'prior'``.
        confidence_key: key of the prior's confidence, ``(H, W, 1)`` float. Default ``f'{prior_key}_confidence'``.

    Shape:
        img ``(H, W, C)`` -> ``(p / s, p / s, C)``; gt -> ``(p, p, C)``; prior like img; confidence
        ``(H, W, 1)`` -> ``(p / s, p / s, 1)``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> img = rng.integers(0, 255, (12, 12, 3)).astype(np.uint8)
        >>> out = PriorPairedRandomCrop(gt_patch_size=8)(dict(scale=1, img=img, gt=img.copy(), prior=img.copy()))
        >>> out['img'].shape, bool((out['img'] == out['prior']).all() and (out['img'] == out['gt']).all())
        ((8, 8, 3), True)
        >>> conf = np.arange(144, dtype=np.float32).reshape(12, 12, 1) / 144
        >>> out = PriorPairedRandomCrop(gt_patch_size=8)(dict(scale=1, img=img, gt=img.copy(), prior=img.copy(),
        ...                                                   prior_confidence=conf))
        >>> out['prior_confidence'].shape
        (8, 8, 1)
    """

    def __init__(self, gt_patch_size: int, lq_key: str = "img", gt_key: str = "gt", prior_key: str = "prior",
                 confidence_key: str | None = None):
        super().__init__(gt_patch_size, lq_key=lq_key, gt_key=gt_key)
        self.prior_key = prior_key
        self.confidence_key = confidence_key or f"{prior_key}_confidence"

    def transform(self, results: dict) -> dict:
        """Crop the three images (see the class docstring)."""
        if self.prior_key not in results:
            return super().transform(results)
        lq, gt, prior = results[self.lq_key], results[self.gt_key], results[self.prior_key]
        conf = results.get(self.confidence_key)
        if any(isinstance(v, list) for v in (lq, gt, prior, conf)):
            raise TypeError("PriorPairedRandomCrop crops single images; lists of frames (video) are not supported")
        out = paired_random_crop(lq, gt, prior, patch_size=self.gt_patch_size, scale=int(results.get("scale", 1)),
                                 name=str(results.get(f"{self.lq_key}_path", "")), confidence=conf)
        results[self.lq_key], results[self.gt_key], results[self.prior_key] = out[:3]
        if conf is not None:  # the prior's box: each prior pixel keeps its confidence
            results[self.confidence_key] = out[3]
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(gt_patch_size={self.gt_patch_size}, lq_key={self.lq_key}, "
                f"gt_key={self.gt_key}, prior_key={self.prior_key}, confidence_key={self.confidence_key})")
