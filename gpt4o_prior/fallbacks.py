"""What an input without a usable prior gets: one vocabulary for the cache and both adapters.

- ``error``: stop, naming the input, the set and the command that fills it (the default everywhere);
- ``input``: the degraded input itself, with confidence 0 (fusion keeps the host's features);
- ``zeros``: a black image of the input's size, with confidence 0;
- ``skip``: nothing (``None``): only for a caller of :meth:`gpt4o_prior.cache.PriorCache.load_prior` that handles
  the gap itself; a dataset needs an image for every sample, so the adapters' ``prior.fallback`` does not take it.

Example:
    >>> DATASET_FALLBACKS
    ('error', 'input', 'zeros')
"""
from __future__ import annotations

__all__ = ["FALLBACKS", "DATASET_FALLBACKS"]

#: Every fallback :meth:`~gpt4o_prior.cache.PriorCache.load_prior` takes.
FALLBACKS = ("error", "skip", "input", "zeros")

#: The fallbacks of a dataset (``prior.fallback`` in BasicSR option files and MMagic configs).
DATASET_FALLBACKS = tuple(f for f in FALLBACKS if f != "skip")
