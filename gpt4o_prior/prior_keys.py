"""The keys of the one ``prior`` setting, read alike by both framework adapters.

BasicSR's ``prior:`` option (:mod:`basicsr_plugins.prior_option`) and MMagic's ``prior = dict(...)``
(:mod:`mmagic_plugins.config`) accept the same keys; each adapter documents them in its own syntax. The default
values of the augmentation keys are in :mod:`gpt4o_prior.augment`.

Example:
    >>> from gpt4o_prior.prior_keys import DATA_KEYS, NET_KEYS
    >>> "dropout" in DATA_KEYS and "fusion" in NET_KEYS and not set(DATA_KEYS) & set(NET_KEYS)
    True
"""
from __future__ import annotations

from .fallbacks import DATASET_FALLBACKS

__all__ = ["DATA_KEYS", "NET_KEYS", "FALLBACKS"]

DATA_KEYS = ("cache", "set", "fallback", "check", "dropout", "dropout_fill", "dropout_mode", "warp", "max_shift",
             "max_rotation", "max_scale", "confidence")
"""Keys used by the data side: the prior cache and set, the missing-prior fallback, the check, the augmentation,
and whether the prior's per-pixel confidence map is loaded and handed to the network."""

NET_KEYS = ("fusion", "at", "encoder", "prior_scale", "fusion_args", "freeze_host")
"""Keys passed to the network that gains the prior branch."""

FALLBACKS = DATASET_FALLBACKS
"""What an input without a prior gets in a dataset (:mod:`gpt4o_prior.fallbacks`)."""
