"""Where priors come from: the OpenAI image-edit API and its Batch API, released folders, offline providers.

Only the light common interface is imported here; each provider module is imported when it is used (the OpenAI
SDK only inside the functions that call it), so ``import gpt4o_prior.providers`` stays cheap.

Example:
    >>> from gpt4o_prior.providers import Provider, OfflineProvider
    >>> issubclass(OfflineProvider, Provider)
    True
"""
from .base import OfflineProvider, Provider, check_image, fill_cache, get_provider, list_providers, register_provider

__all__ = ["Provider", "OfflineProvider", "check_image", "register_provider", "get_provider", "list_providers",
           "fill_cache"]
