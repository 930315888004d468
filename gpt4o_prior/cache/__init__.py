"""Content-addressed prior cache: request keys, prior sets, entries, claims, the manifest and the store.

Example:
    >>> from gpt4o_prior.cache import PriorCache, PriorSet, request_key, sha256_bytes
    >>> len(request_key(provider="p", model=None, prompt_text=None, prompt_version=None, params={},
    ...                 input_sha256=sha256_bytes(b"x")))
    64
"""
from .claim import Claim
from .entry import CacheEntry
from .errors import PriorMissingError, UnknownSetError
from .key import KEY_SCHEMA_VERSION, canonical_json, request_key, sha256_bytes, sha256_file, sha256_pixels
from .prior_set import LABELS, PriorSet
from .realign import RealignReport, realign_set
from .store import CACHE_SCHEMA_VERSION, FALLBACKS, PriorCache, VerifyReport

__all__ = ["PriorCache", "PriorSet", "realign_set", "RealignReport", "CacheEntry", "Claim", "VerifyReport", "PriorMissingError", "UnknownSetError",
           "request_key", "sha256_bytes", "sha256_file", "sha256_pixels", "canonical_json", "KEY_SCHEMA_VERSION",
           "CACHE_SCHEMA_VERSION", "FALLBACKS", "LABELS"]
