"""``PriorAugment``: training-time prior warp and prior dropout in an MMagic pipeline."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from gpt4o_prior import augment
from gpt4o_prior.prior_keys import check_dropout

from ..registry import TRANSFORMS, register

__all__ = ["PriorAugment"]


@register(TRANSFORMS)
class PriorAugment(BaseTransform):
    """Warp the prior a little and drop it now and then (:func:`gpt4o_prior.augment.prior_training_views`).

    Use in training pipelines only, after the shared crop / flips (so the warp acts on the patch) and before
    ``PackInputs``. The defaults are the shared ones of :mod:`gpt4o_prior.augment`, the same as the BasicSR
    adapter's. Randomness comes from NumPy's global state, which MMEngine seeds per worker.

    Required keys: ``prior`` (and ``img`` for ``dropout_fill='input'``). Modified keys: ``prior``. Added keys:
    with ``dropout_fill='none'``, ``prior_keep`` (1.0, or 0.0 when dropped: pack it as a meta key); with
    ``dropout_mode='pair'``, ``prior_dropped`` (the dropped prior) with ``prior_dropped_channel_order`` /
    ``prior_dropped_color_type`` copied from the prior's, so ``PackInputs(keys=[..., 'prior', 'prior_dropped'])``
    and the ``DataPreprocessor`` treat it like the prior, and for fill ``'none'`` ``prior_dropped_keep`` (0.0).
    ``PriorEditModel`` trains on both and honours the flags. :func:`mmagic_plugins.config.prior_pipeline` packs
    all of these.

    The prior's confidence (``prior_confidence``, ``(H, W, 1)`` float from ``LoadPrior``), wherever the results
    carry one, goes with the prior: warped by the very affine the prior is (0 where the warp fills in the border:
    that prior content is invented, :func:`gpt4o_prior.augment.warp_confidence`), and 0 everywhere when the prior
    is dropped, whatever the fill (the stand-in carries nothing of the generative model). ``dropout_mode='pair'``
    adds ``prior_dropped_confidence`` (zeros), packed beside ``prior_dropped``. These are the BasicSR adapter's
    rules (:func:`gpt4o_prior.augment.prior_training_views`).

    Args:
        dropout: probability of replacing the prior by ``dropout_fill`` (0 turns dropout off).
        dropout_fill: what a dropped prior becomes: ``'input'`` (the input patch), ``'zeros'``, ``'mean'`` or
            ``'none'`` (no prior: the generator runs that sample without one). Default: ``'input'``, or
            ``'none'`` with ``dropout_mode='pair'``.
        dropout_mode: ``'sample'`` (drop with probability ``dropout``) or ``'pair'`` (never drop; add the fill as
            ``prior_dropped`` so the model trains every sample with and without its prior; ``dropout`` unused).
        warp: probability of a small random affine warp (0 turns warping off).
        max_shift: largest warp shift in pixels.
        max_rotation: largest warp rotation in degrees.
        max_scale: largest relative warp zoom.
        key: key of the input. Default ``'img'``.
        prior_key: key of the prior. Default ``'prior'``.
        confidence_key: key of the prior's confidence. Default ``f'{prior_key}_confidence'``.

    Shape:
        prior ``(H, W, C)`` and confidence ``(H, W, 1)`` keep their shapes and dtypes.

    Example:
        >>> import numpy as np
        >>> img = np.full((8, 8, 3), 7, np.uint8)
        >>> out = PriorAugment(dropout=1.0, warp=0.0)(dict(img=img, prior=np.zeros_like(img)))
        >>> bool((out['prior'] == img).all())  # dropped: replaced by the input
        True
        >>> out = PriorAugment(dropout=1.0, warp=0.0)(dict(img=img, prior=np.zeros_like(img),
        ...                                                prior_confidence=np.ones((8, 8, 1), np.float32)))
        >>> float(out['prior_confidence'].max())  # ... and trusted nowhere
        0.0
    """

    def __init__(self, dropout: float = augment.PRIOR_DROPOUT, dropout_fill: str | None = None,
                 warp: float = augment.WARP_PROB, max_shift: float = augment.MAX_SHIFT,
                 max_rotation: float = augment.MAX_ROTATION, max_scale: float = augment.MAX_SCALE,
                 key: str = "img", prior_key: str = "prior", dropout_mode: str = "sample",
                 confidence_key: str | None = None) -> None:
        dropout, dropout_fill, dropout_mode, warp = check_dropout(dropout, dropout_fill, dropout_mode, warp,
                                                                  spell=lambda k: f"PriorAugment: {k}")
        self.dropout, self.dropout_fill, self.warp = dropout, dropout_fill, warp
        self.max_shift, self.max_rotation, self.max_scale = float(max_shift), float(max_rotation), float(max_scale)
        self.key, self.prior_key, self.dropout_mode = key, prior_key, dropout_mode
        self.confidence_key = confidence_key or f"{prior_key}_confidence"

    def transform(self, results: dict) -> dict:
        """Augment ``results[prior_key]`` (see the class docstring)."""
        if self.prior_key not in results:
            raise KeyError(f"PriorAugment: results has no '{self.prior_key}'; put LoadPrior before it")
        prior = results[self.prior_key]
        lq = results.get(self.key) if self.dropout_fill == "input" else None
        conf = results.get(self.confidence_key)
        views = augment.prior_training_views(prior, lq=lq, mode=self.dropout_mode, dropout=self.dropout,
                                             fill=self.dropout_fill, warp=self.warp, max_shift=self.max_shift,
                                             max_rotation=self.max_rotation, max_scale=self.max_scale, rng=None,
                                             confidence=conf)
        results[self.prior_key] = np.ascontiguousarray(views.prior)
        if views.confidence is not None:  # warped with the prior, 0 where it was dropped
            results[self.confidence_key] = np.ascontiguousarray(views.confidence)
        if views.keep is not None:  # the flags travel as meta keys (PriorEditModel reads them)
            results[f"{self.prior_key}_keep"] = views.keep
        if views.dropped is not None:
            dropped = f"{self.prior_key}_dropped"
            results[dropped] = np.ascontiguousarray(views.dropped)
            if views.dropped_keep is not None:
                results[f"{dropped}_keep"] = views.dropped_keep
            if views.dropped_confidence is not None:  # zeros: the stand-in is trusted nowhere
                results[f"{dropped}_confidence"] = np.ascontiguousarray(views.dropped_confidence)
            for meta in ("channel_order", "color_type"):
                if f"{self.prior_key}_{meta}" in results:
                    results[f"{dropped}_{meta}"] = results[f"{self.prior_key}_{meta}"]
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(dropout={self.dropout}, dropout_fill={self.dropout_fill!r}, "
                f"warp={self.warp}, max_shift={self.max_shift}, max_rotation={self.max_rotation}, "
                f"max_scale={self.max_scale}, dropout_mode={self.dropout_mode!r})")
