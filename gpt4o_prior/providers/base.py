"""The common interface of every prior provider: what it is called, how its priors are labelled, what its key holds.

A provider turns an input image into a prior. Two kinds exist:

* **offline** providers (classical enhancement, simulated GPT-like priors) compute the prior locally with
  :meth:`OfflineProvider.make`; nothing is paid, but their results are still cached under a request key so that
  datasets look them up the same way as GPT priors;
* **remote** providers (the OpenAI image-edit API and its Batch API) send the image away; they live in
  :mod:`gpt4o_prior.providers.openai_images` and :mod:`gpt4o_prior.providers.openai_batch` and are driven by
  the ``gpt4o-prior generate`` / ``batch`` commands.

Both expose :meth:`Provider.key_fields`: the keyword arguments that, together with the sha256 of the bytes as
sent, make the cache's ``request_key``. Change anything that changes the output (model, prompt, a parameter)
and the key changes with it. A provider whose prior is made from the clean target (``uses_target = True``: the
simulated provider) also puts the sha256 of the target's pixels into its key, so two sets made with the same
settings over the same inputs but from different targets never share an entry.

Example:
    >>> import numpy as np
    >>> class Invert(OfflineProvider):
    ...     name, label = "invert", "classical"
    ...     def make(self, image, *, target=None):
    ...         return 255 - check_image(image, "image")
    >>> p = Invert()
    >>> p.key_fields()["provider"], p.key_fields()["model"]
    ('invert', None)
    >>> p.make(np.zeros((2, 2, 3), np.uint8))[0, 0].tolist()
    [255, 255, 255]
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data.io import as_rgb_uint8

__all__ = ["Provider", "OfflineProvider", "check_image", "register_provider", "get_provider", "list_providers",
           "fill_cache"]


def check_image(image: Any, name: str = "image") -> np.ndarray:
    """Check that ``image`` is an ``(H, W, 3)`` uint8 RGB array and return it: :func:`gpt4o_prior.data.io.as_rgb_uint8`
    (the one RGB check), under the name providers have used.

    Example:
        >>> check_image(np.zeros((4, 5, 3), np.uint8)).shape
        (4, 5, 3)
    """
    return as_rgb_uint8(image, name)


class Provider:
    """Base class of all providers.

    Subclasses set two class attributes and may extend :meth:`key_fields`.

    Attributes:
        name: provider id, stored in the cache key and the set record (e.g. ``"openai-images"``, ``"classical"``).
        label: what kind of prior it makes: ``"gpt"``, ``"classical"``, ``"simulated"``, ``"released-gpt"``,
            or another string; datasets and reports group priors by it.
        model: the model name, or None for providers without one.
        prompt_id / prompt_version / prompt_text: the task prompt, or None.
    """

    name: str = "provider"
    label: str = "other"
    #: True for providers whose prior depends on the clean target passed as ``make(..., target=)`` (simulated
    #: priors): their key then also holds the target's pixel hash (:meth:`key_fields`).
    uses_target: bool = False
    model: str | None = None
    prompt_id: str | None = None
    prompt_version: int | None = None
    prompt_text: str | None = None

    def params(self) -> dict[str, Any]:
        """Every setting that changes the output, as a JSON-able dict (part of the key). Default: none."""
        return {}

    def key_fields(self, *, target_sha256: str | None = None) -> dict[str, Any]:
        """The keyword arguments of ``gpt4o_prior.cache.request_key`` except ``input_sha256``.

        Args:
            target_sha256: ``gpt4o_prior.cache.sha256_pixels`` of the clean target the prior is made from (as
                decoded to (H, W, 3) uint8 RGB), or None. Added to ``params`` as ``target_sha256`` only when the
                provider :attr:`uses_target`; ignored otherwise, so the keys of providers that never look at the
                target do not depend on it.

        Returns:
            dict with ``provider``, ``model``, ``prompt_text``, ``prompt_version`` and ``params``.
        """
        params = self.params()
        if target_sha256 is not None and self.uses_target:
            from ..cache.key import check_sha256

            params = {**params, "target_sha256": check_sha256(target_sha256, "target_sha256")}
        return {"provider": self.name, "model": self.model, "prompt_text": self.prompt_text,
                "prompt_version": self.prompt_version, "params": params}

    def set_fields(self) -> dict[str, Any]:
        """The fields of a ``gpt4o_prior.cache.PriorSet`` this provider fills, except ``name``."""
        return {"provider": self.name, "model": self.model, "label": self.label, "prompt_id": self.prompt_id,
                "prompt_version": self.prompt_version, "prompt_text": self.prompt_text, "params": self.params()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, label={self.label!r}, model={self.model!r})"


class OfflineProvider(Provider):
    """A provider that computes its prior locally (no network, nothing paid)."""

    def make(self, image: np.ndarray, *, target: np.ndarray | None = None) -> np.ndarray:
        """Return the prior of ``image``.

        Args:
            image: the degraded input, (H, W, 3) uint8 RGB.
            target: the clean ground truth where the provider needs one (simulated priors), else None.

        Returns:
            the prior, (H', W', 3) uint8 RGB; the cache aligns it back to (H, W) if the sizes differ.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make(image, *, target=None)")


_REGISTRY: dict[str, type[Provider]] = {}


def register_provider(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make a provider available by its ``name`` to :func:`get_provider` and the CLI.

    Example:
        >>> @register_provider
        ... class Nothing(OfflineProvider):
        ...     name = "doc-nothing"
        >>> "doc-nothing" in list_providers()
        True
    """
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise TypeError(f"register_provider expects a Provider subclass, got {cls!r}")
    old = _REGISTRY.get(cls.name)
    if old is not None and old is not cls and old.__qualname__ != cls.__qualname__:
        raise ValueError(f"provider name {cls.name!r} is already registered by {old.__module__}.{old.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def list_providers() -> list[str]:
    """Names of the registered providers, sorted."""
    return sorted(_REGISTRY)


def get_provider(name: str | type[Provider] | Provider, **kwargs: Any) -> Provider:
    """Build a provider from a registered name, a class or an instance (returned as is).

    Args:
        name: registered name, a Provider subclass, or a Provider instance.
        **kwargs: passed to the class.

    Example:
        >>> get_provider("nope")
        Traceback (most recent call last):
        ...
        KeyError: "unknown provider 'nope'; registered: ..."
    """
    if isinstance(name, Provider):
        return name
    if isinstance(name, type) and issubclass(name, Provider):
        return name(**kwargs)
    if name not in _REGISTRY:
        _load_builtin(name)
    if name not in _REGISTRY:
        raise KeyError(f"unknown provider {name!r}; registered: {', '.join(list_providers()) or 'none'}")
    return _REGISTRY[name](**kwargs)


def _load_builtin(name: str) -> None:
    """Import the module of a built-in provider on first use (keeps ``import gpt4o_prior`` light)."""
    import importlib

    modules = {"classical": "classical", "simulated": "simulated", "released": "released",
               "released-gpt": "released"}
    mod = modules.get(name)
    if mod is not None:
        try:
            importlib.import_module(f"gpt4o_prior.providers.{mod}")
        except ImportError:
            pass


def fill_cache(inputs: Any, *, cache: Any, set_name: str, provider: OfflineProvider,
               targets: Any = None, progress: bool = False, busy_timeout: float | None = None,
               busy_poll_s: float = 0.5) -> dict[str, Any]:
    """Compute the priors of an offline provider for image files and store them in a prior cache.

    The key uses the original file bytes (``as sent`` = as read) and :meth:`Provider.key_fields`; for a provider
    that :attr:`Provider.uses_target`, also the sha256 of the target's decoded pixels
    (``gpt4o_prior.cache.sha256_pixels``: a re-encoded target file with the same pixels keeps its key, a changed
    target gets a new one). Inputs whose prior is already in the set are skipped, so the call is resumable. Each input is computed under the cache's
    claim on its key, like a paid request: an input another live process is computing is waited for and then
    counted as cached (or computed here if that process died or gave up).

    Args:
        inputs: image file paths.
        cache: a ``gpt4o_prior.cache.PriorCache``.
        set_name: the set to fill (registered from the provider if new).
        provider: an :class:`OfflineProvider`.
        targets: None, or a callable ``path -> path of the clean target`` (providers that need ``target=``).
        progress: show a progress bar.
        busy_timeout: seconds to wait at most per input claimed by another live process (None: as long as it
            holds the claim; 0: do not wait); an input still claimed then is listed in ``failed`` as busy.
        busy_poll_s: seconds between two looks at a claimed input.

    Returns:
        ``{"done": n, "cached": n, "failed": {file name: reason}}``.
    """
    import time
    from pathlib import Path

    from ..cache import PriorSet, request_key, sha256_bytes, sha256_pixels
    from ..cache.claim import busy_pause
    from ..data.io import read_rgb

    cache.register_set(PriorSet(name=set_name, **provider.set_fields()))
    paths = [Path(p) for p in inputs]
    it = paths
    if progress:
        from tqdm import tqdm
        it = tqdm(paths, unit="img", desc=f"{provider.name} -> {set_name}")
    out: dict[str, Any] = {"done": 0, "cached": 0, "failed": {}}
    for path in it:
        try:
            data = path.read_bytes()
            src = sha256_bytes(data)
            found = cache.find(set_name, src)
            if found is not None and found.status == "ok":
                out["cached"] += 1
                continue
            target, target_sha = None, None
            if targets is not None and provider.uses_target:  # the prior's pixels depend on it: so does the key
                target = read_rgb(Path(targets(path)))
                target_sha = sha256_pixels(target)
            key = request_key(**provider.key_fields(target_sha256=target_sha), input_sha256=src)
            claim, t0 = cache.claim(key), time.monotonic()
            while not claim.acquire():
                pause = busy_pause(time.monotonic() - t0, busy_timeout, busy_poll_s)
                if pause is None:
                    break
                time.sleep(pause)
            if not claim.held:
                out["failed"][path.name] = (f"busy: another process held the claim on this input for "
                                            f"{time.monotonic() - t0:.0f} s; run again when it is done")
                continue
            try:
                found = cache.find(set_name, src)       # the other process may have stored it meanwhile
                if found is not None and found.status == "ok":
                    out["cached"] += 1
                    continue
                _make_and_store(path, data, src, key, cache=cache, set_name=set_name, provider=provider,
                                targets=targets, target=target)
            finally:
                claim.release()
            out["done"] += 1
        except (OSError, ValueError) as e:
            out["failed"][path.name] = f"{type(e).__name__}: {e}"
    return out


def _make_and_store(path: Any, data: bytes, src: str, key: str, *, cache: Any, set_name: str,
                    provider: OfflineProvider, targets: Any, target: np.ndarray | None = None) -> None:
    """Compute one offline prior and store it (under the caller's claim on ``key``); ``target``: the target
    already read for the key, else it is read from ``targets`` here."""
    from pathlib import Path

    from ..cache.image_io import encode_png   # the cache's fast PNG level: read back, not shipped
    from ..data.io import decode_rgb, read_rgb

    image = decode_rgb(data, str(path))
    if target is None and targets is not None:
        target = read_rgb(Path(targets(path)))
    prior = check_image(provider.make(image, target=target), f"{provider.name} prior of {path.name}")
    aligned = prior
    meta: dict[str, Any] = {"provider": provider.name, "model": provider.model, "params": provider.params(),
                            "label": provider.label}
    # a provider that registers its output itself (simulated, register=True) hands over the confidence of its
    # dense step; None: the prior reads as confidence 1 everywhere
    confidence = getattr(provider, "last_confidence", None)
    if prior.shape != image.shape:
        from ..align import align_with_confidence
        # dense where registration is meant: a provider that says register=False keeps the global step only
        dense = bool(getattr(provider, "register", True)) and bool(getattr(provider, "dense", True))
        aligned, confidence, meta["alignment"] = align_with_confidence(prior, image, dense=dense)
        if not dense:
            confidence = None
    record = getattr(provider, "last_record", None)
    if record is not None:
        meta["record"] = record
    # a provider that registers its output itself keeps the output as made as the raw file, like a GPT answer
    raw = getattr(provider, "last_unregistered", None)
    cache.put(key, encode_png(prior if raw is None else raw), meta=meta, aligned=aligned, confidence=confidence,
              set_name=set_name, source_sha256=src, source_name=path.name)
