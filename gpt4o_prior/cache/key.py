"""The request key: a sha256 over everything that decides what a provider returns.

Two different requests never share a key and the same request always gets the same one, because the key is the
hash of a *canonical* JSON document (sorted keys, no insignificant whitespace, UTF-8) holding the schema version,
the provider, the model name, the prompt text and version, every request parameter, and the sha256 of the input
as it was sent (:func:`sha256_pixels` of the sent image for image APIs, the file's sha256 for offline providers).

Example:
    >>> k = request_key(provider="offline", model=None, prompt_text=None, prompt_version=None,
    ...                 params={"strength": 0.5}, input_sha256=sha256_bytes(b"pixels"))
    >>> len(k), k == request_key(provider="offline", model=None, prompt_text=None, prompt_version=None,
    ...                          params={"strength": 0.5}, input_sha256=sha256_bytes(b"pixels"))
    (64, True)
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Mapping

from ..secrets import SECRET_NAMES

__all__ = ["KEY_SCHEMA_VERSION", "request_key", "sha256_bytes", "sha256_pixels", "sha256_file", "canonical_json", "check_key",
           "check_sha256", "SECRET_NAMES"]

#: Bumped only when the meaning of the key document changes; it is part of every key.
KEY_SCHEMA_VERSION = 1


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``.

    Example:
        >>> sha256_bytes(b"")[:16]
        'e3b0c44298fc1c14'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"sha256_bytes expects bytes, got {type(data).__name__}")
    return hashlib.sha256(data).hexdigest()


def sha256_pixels(image) -> str:
    """Hex sha256 of an image's pixels: its shape, dtype and values, whatever file format carried them.

    The key of an image request hashes the pixels sent rather than their PNG bytes, so that a change of PNG
    encoder (compression level, filters, library version) never makes a request look new and paid again.

    Args:
        image: array (H, W, C) or (H, W), e.g. uint8 RGB.

    Example:
        >>> import numpy as np
        >>> a = np.zeros((2, 3, 3), np.uint8)
        >>> sha256_pixels(a) == sha256_pixels(a.copy()), sha256_pixels(a) == sha256_pixels(a.reshape(3, 2, 3))
        (True, False)
    """
    shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", None)
    if shape is None or dtype is None or not hasattr(image, "tobytes"):
        raise TypeError(f"sha256_pixels expects an array, got {type(image).__name__}")
    h = hashlib.sha256(f"pixels:{'x'.join(str(int(v)) for v in shape)}:{dtype}:".encode("ascii"))
    h.update(image.tobytes(order="C"))
    return h.hexdigest()


def sha256_file(path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes as they are on disk.

    Example:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"")
        >>> sha256_file(f.name) == sha256_bytes(b""); os.unlink(f.name)
        True
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _check_jsonable(obj: Any, where: str) -> None:
    if obj is None or isinstance(obj, (bool, int, str)):
        return
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{where} is {obj!r}: request parameters must be finite numbers")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_jsonable(v, f"{where}[{i}]")
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a non-string key {k!r}: use string keys in request parameters")
            if k.lower() in SECRET_NAMES:
                raise ValueError(f"{where}[{k!r}] looks like a credential: never put API keys in request "
                                 "parameters (the key would be stored in the cache); pass them to the client")
            _check_jsonable(v, f"{where}[{k!r}]")
        return
    raise TypeError(f"{where} is a {type(obj).__name__}: request parameters must be JSON values "
                    "(str, int, float, bool, None, list, dict); convert it first (e.g. int(x), x.tolist())")


def canonical_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, compact separators, UTF-8 kept, no NaN.

    Example:
        >>> canonical_json({"b": 1, "a": [1.5, "é"]})
        '{"a":[1.5,"é"],"b":1}'
    """
    _check_jsonable(obj, "value")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def check_sha256(value: Any, name: str) -> str:
    """Check that ``value`` is a 64-character lowercase hex digest; return it."""
    if not isinstance(value, str) or not _HEX64.match(value):
        raise ValueError(f"{name} must be a 64-character lowercase hex sha256, got {value!r:.80}")
    return value


def check_key(key: Any) -> str:
    """Check that ``key`` is a request key (so it can never name a path outside the cache); return it."""
    return check_sha256(key, "key")


def request_key(*, provider: str, model: str | None, prompt_text: str | None, prompt_version: int | str | None,
                params: Mapping[str, Any] | None, input_sha256: str) -> str:
    """The cache key of one request.

    Args:
        provider: provider id, e.g. ``"openai-images"``.
        model: model name as sent (a setting: models are retired and renamed), or None.
        prompt_text: the prompt exactly as sent, or None.
        prompt_version: the prompt's version, or None.
        params: every request parameter that can change the output (size, quality, background, ...), as JSON
            values. Credentials are refused.
        input_sha256: what identifies the input as sent: for image APIs :func:`sha256_pixels` of the image after
            the provider's resize / pad (not of its PNG bytes, so the encoder does not matter); for offline
            providers the sha256 of the input file.

    Returns:
        64-character hex sha256 of the canonical JSON of those fields plus :data:`KEY_SCHEMA_VERSION`.

    Example:
        >>> a = request_key(provider="p", model="m", prompt_text="dehaze", prompt_version=1, params={},
        ...                 input_sha256="0" * 64)
        >>> b = request_key(provider="p", model="m", prompt_text="dehaze", prompt_version=2, params={},
        ...                 input_sha256="0" * 64)
        >>> a != b
        True
    """
    if not isinstance(provider, str) or not provider:
        raise ValueError(f"provider must be a non-empty string, got {provider!r}")
    for name, value in (("model", model), ("prompt_text", prompt_text)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
    if prompt_version is not None and not isinstance(prompt_version, (int, str)):
        raise TypeError(f"prompt_version must be an int, a string or None, got {type(prompt_version).__name__}")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of request parameters, got {type(params).__name__}")
    check_sha256(input_sha256, "input_sha256")
    doc = {"schema": KEY_SCHEMA_VERSION, "provider": provider, "model": model, "prompt_text": prompt_text,
           "prompt_version": prompt_version, "params": dict(params), "input_sha256": input_sha256}
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()
