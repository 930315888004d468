"""``LoadPrior``: put the cached prior of ``img`` into an MMagic pipeline's results, as ``img`` is laid out."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
from mmcv.transforms import BaseTransform

from gpt4o_prior.prior_keys import FALLBACKS

from ..registry import TRANSFORMS, register

__all__ = ["LoadPrior", "FALLBACKS"]


@register(TRANSFORMS)
class LoadPrior(BaseTransform):
    """Load the prior of ``results[key]`` from a prior cache, aligned to it and laid out like it.

    The prior is found by the content hash (sha256) of the input file at ``results[f'{key}_path']`` (which
    MMagic's ``BasicImageDataset`` sets), so renamed or moved datasets still find their priors. It comes back with
    the input's height and width (the cache aligns it), in the input's channel order (``bgr`` or ``rgb``, as
    ``LoadImageFromFile`` recorded in ``results[f'{key}_channel_order']``) and dtype. Put it right after
    ``LoadImageFromFile(key='img')``, before any crop or flip.

    With ``confidence=True`` (the default) the prior's per-pixel confidence comes with it, as
    ``results['prior_confidence']``: ``(H, W, 1)`` float32 in [0, 1] of the prior's size (the cache's confidence map;
    ones for a prior cached without one, zeros where a ``fallback`` stands in for a missing prior, which carries
    nothing of the generative model). Move it with the prior: :func:`mmagic_plugins.config.prior_pipeline` adds it
    to the keys of the shared geometric transforms, ``PriorPairedRandomCrop`` and ``PriorAugment`` move it
    themselves, and ``PackInputs(keys=[..., 'prior', 'prior_confidence'])`` hands it to ``PriorEditModel``, which
    passes it to the generator as ``confidence=``.

    Required keys: ``img``, ``img_path``. Added keys: ``prior``, ``prior_channel_order``, ``prior_color_type``,
    ``ori_prior_shape`` and (``confidence=True``) ``prior_confidence``.

    Args:
        cache: prior cache folder (a :class:`gpt4o_prior.cache.PriorCache` root).
        set: name of the prior set in that cache (e.g. ``'ohaze-gpt'``).
        key: results key of the input the prior belongs to.
        prior_key: results key to write the prior to.
        fallback: an input without a prior: ``'error'`` (raise, naming the file, the set and the command that
            fills the cache), ``'input'`` (the input itself) or ``'zeros'``.
        confidence: also load the prior's confidence (``True``/``False`` only); ``False``: none (the generator
            then trusts the prior everywhere, the behaviour before confidence maps existed).
        confidence_key: results key to write the confidence to; default ``f'{prior_key}_confidence'``.

    Raises:
        ValueError: unknown ``fallback``, a ``confidence`` that is not a bool; at call time, an input that is not
            a 3-channel colour image, or whose size no longer matches its file (a crop or resize ran before
            ``LoadPrior``).

    Shape:
        img ``(H, W, 3)`` -> prior ``(H, W, 3)`` (img's dtype), confidence ``(H, W, 1)`` float32.

    Example:
        >>> LoadPrior(cache='priors/', set='ohaze-gpt')
        LoadPrior(cache='priors/', set='ohaze-gpt', key='img', prior_key='prior', fallback='error', confidence=True)
        >>> LoadPrior(cache='priors/', set='ohaze-gpt', confidence=False).confidence_key is None
        True
    """

    def __init__(self, cache: str, set: str, key: str = "img", prior_key: str = "prior",  # noqa: A002
                 fallback: str = "error", confidence: bool = True, confidence_key: str | None = None) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"LoadPrior: fallback must be one of {FALLBACKS}, got {fallback!r}")
        if not isinstance(confidence, bool):
            raise ValueError(f"LoadPrior: confidence must be True or False, got {confidence!r}")
        if not cache or not set:
            raise ValueError("LoadPrior needs cache=<prior cache folder> and set=<prior set name>, e.g. "
                             "prior = dict(cache='priors/', set='ohaze-gpt')")
        self.cache_root = str(cache)
        self.set_name = str(set)
        self.key = key
        self.prior_key = prior_key
        self.fallback = fallback
        self.confidence = confidence
        # None when off: nothing is written (and no stale key is expected downstream)
        self.confidence_key = (confidence_key or f"{prior_key}_confidence") if confidence else None
        self._cache = None  # opened on first use, in each DataLoader worker

    @property
    def cache(self):
        """The :class:`~gpt4o_prior.cache.PriorCache` (opened on first use)."""
        if self._cache is None:
            from gpt4o_prior.cache import PriorCache

            self._cache = PriorCache(self.cache_root)
        return self._cache

    def __getstate__(self):  # DataLoader workers reopen the cache themselves
        state = dict(self.__dict__)
        state["_cache"] = None
        return state

    def missing(self, paths: Iterable[str | Path]) -> list[str]:
        """The input files among ``paths`` that have no usable prior of this set (hashes only, no decoding).

        Args:
            paths: input image files.

        Returns:
            Paths (as strings) without an ``ok`` cache entry.
        """
        from gpt4o_prior.cache.missing import missing_priors

        return missing_priors(self.cache, self.set_name, list(paths))

    def transform(self, results: dict) -> dict:
        """Add ``results[prior_key]`` (see the class docstring)."""
        path = results.get(f"{self.key}_path")
        if path is None:
            raise KeyError(f"LoadPrior needs results['{self.key}_path'] (the input file, set by MMagic's "
                           f"BasicImageDataset) to find the prior of '{self.key}'")
        if self.key not in results:
            raise KeyError(f"LoadPrior: results has no '{self.key}'; put LoadPrior after "
                           f"LoadImageFromFile(key='{self.key}')")
        img = results[self.key]
        if isinstance(img, list):
            raise TypeError(f"LoadPrior loads one prior per image; '{self.key}' of {path} is a list of frames "
                            "(video pipelines are not supported)")
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"LoadPrior: '{self.key}' of {path} must be a colour image (H, W, 3), got "
                             f"{getattr(img, 'shape', type(img).__name__)}; load it with color_type='color'")
        out = self.cache.load_prior(self.set_name, path, fallback=self.fallback, with_confidence=self.confidence)
        prior, conf = out if self.confidence else (out, None)
        if prior is None:  # only with fallback='skip', which we do not offer; be explicit anyway
            raise FileNotFoundError(f"no prior of set '{self.set_name}' for {path}")
        prior = np.asarray(prior)
        if prior.shape[:2] != img.shape[:2]:
            raise ValueError(f"LoadPrior: the prior of {path} is {prior.shape[:2]} but '{self.key}' is "
                             f"{img.shape[:2]}: put LoadPrior right after LoadImageFromFile(key='{self.key}'), "
                             "before any crop or resize")
        order = str(results.get(f"{self.key}_channel_order", "bgr")).lower()
        if order == "bgr":
            prior = prior[..., ::-1]  # the cache gives RGB
        # a fresh, writable array: the cache may hand out read-only ones, and MMagic's flips work in place
        results[self.prior_key] = np.array(prior, dtype=img.dtype, order="C", copy=True)
        results[f"{self.prior_key}_channel_order"] = order
        results[f"{self.prior_key}_color_type"] = "color"
        results[f"ori_{self.prior_key}_shape"] = results[self.prior_key].shape
        if conf is not None:  # (H, W) from the cache: ones if stored without one, zeros for a fallback
            results[self.confidence_key] = np.array(conf, dtype=np.float32, order="C", copy=True)[..., None]
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(cache={self.cache_root!r}, set={self.set_name!r}, key={self.key!r}, "
                f"prior_key={self.prior_key!r}, fallback={self.fallback!r}, confidence={self.confidence!r})")
