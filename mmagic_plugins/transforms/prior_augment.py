"""``PriorAugment``: training-time prior warp and prior dropout in an MMagic pipeline."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from gpt4o_prior import augment

from ..registry import TRANSFORMS, register

__all__ = ["PriorAugment"]


@register(TRANSFORMS)
class PriorAugment(BaseTransform):
    """Warp the prior a little and drop it now and then (:func:`gpt4o_prior.augment.augment_prior`).

    Use in training pipelines only, after the shared crop / flips (so the warp acts on the patch) and before
    ``PackInputs``. The defaults are the shared ones of :mod:`gpt4o_prior.augment`, the same as the BasicSR
    adapter's. Randomness comes from NumPy's global state, which MMEngine seeds per worker.

    Required keys: ``prior`` (and ``img`` for ``dropout_fill='input'``). Modified keys: ``prior``.

    Args:
        dropout: probability of replacing the prior by ``dropout_fill`` (0 turns dropout off).
        dropout_fill: what a dropped prior becomes: ``'input'`` (the input patch), ``'zeros'`` or ``'mean'``.
        warp: probability of a small random affine warp (0 turns warping off).
        max_shift: largest warp shift in pixels.
        max_rotation: largest warp rotation in degrees.
        max_scale: largest relative warp zoom.
        key: key of the input. Default ``'img'``.
        prior_key: key of the prior. Default ``'prior'``.

    Example:
        >>> import numpy as np
        >>> img = np.full((8, 8, 3), 7, np.uint8)
        >>> out = PriorAugment(dropout=1.0, warp=0.0)(dict(img=img, prior=np.zeros_like(img)))
        >>> bool((out['prior'] == img).all())  # dropped: replaced by the input
        True
    """

    def __init__(self, dropout: float = augment.PRIOR_DROPOUT, dropout_fill: str = "input",
                 warp: float = augment.WARP_PROB, max_shift: float = augment.MAX_SHIFT,
                 max_rotation: float = augment.MAX_ROTATION, max_scale: float = augment.MAX_SCALE,
                 key: str = "img", prior_key: str = "prior") -> None:
        if dropout_fill not in augment.DROPOUT_FILLS:
            raise ValueError(f"PriorAugment: dropout_fill must be one of {augment.DROPOUT_FILLS}, "
                             f"got {dropout_fill!r}")
        for name, p in (("dropout", dropout), ("warp", warp)):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"PriorAugment: {name} is a probability in [0, 1], got {p}")
        self.dropout, self.dropout_fill, self.warp = float(dropout), dropout_fill, float(warp)
        self.max_shift, self.max_rotation, self.max_scale = float(max_shift), float(max_rotation), float(max_scale)
        self.key, self.prior_key = key, prior_key

    def transform(self, results: dict) -> dict:
        """Augment ``results[prior_key]`` (see the class docstring)."""
        if self.prior_key not in results:
            raise KeyError(f"PriorAugment: results has no '{self.prior_key}'; put LoadPrior before it")
        prior = results[self.prior_key]
        lq = results.get(self.key) if self.dropout_fill == "input" else None
        out = augment.augment_prior(prior, lq=lq, dropout=self.dropout, fill=self.dropout_fill, warp=self.warp,
                                    max_shift=self.max_shift, max_rotation=self.max_rotation,
                                    max_scale=self.max_scale, rng=None)
        results[self.prior_key] = np.ascontiguousarray(out)
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(dropout={self.dropout}, dropout_fill={self.dropout_fill!r}, "
                f"warp={self.warp}, max_shift={self.max_shift}, max_rotation={self.max_rotation}, "
                f"max_scale={self.max_scale})")
