"""What counts as a credential, and taking it out of text: one definition for the cache's sidecars and key, the
providers' error messages and the command line.

Example:
    >>> redact("Incorrect API key provided: sk-abc123xyz456. Header Bearer tok3n-value", "tok3n-value")
    'Incorrect API key provided: [redacted]. Header [redacted]'
    >>> looks_secret("/data/risk-maps/0001.png"), looks_secret("key sk-live-0123456789")
    (False, True)
"""
from __future__ import annotations

import os
import re

__all__ = ["SECRET_NAMES", "KEY_ENV_VARS", "SECRET_PATTERN", "REDACTED", "redact", "looks_secret"]

#: Names that must never appear as a request parameter or be stored in a sidecar (compared in lower case).
SECRET_NAMES = frozenset({"api_key", "apikey", "authorization", "openai_api_key", "secret", "password",
                          "access_token", "bearer", "x-api-key"})

#: Environment variables whose values are taken out of every message, wherever they appear.
KEY_ENV_VARS = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY")

#: Text that looks like a key: ``sk-`` keys (also partly masked with ``*``, as services echo them) that start a
#: word, and bearer tokens. A word-start rule keeps paths such as ``risk-maps/`` intact.
SECRET_PATTERN = re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-*]{8,}|Bearer\s+\S+")

#: What a removed credential reads as.
REDACTED = "[redacted]"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` without the given secrets, the values of :data:`KEY_ENV_VARS`, and anything matching
    :data:`SECRET_PATTERN`."""
    for s in (*secrets, *(os.environ.get(v) for v in KEY_ENV_VARS)):
        if s:
            text = text.replace(s, REDACTED)
    return SECRET_PATTERN.sub(REDACTED, text)


def looks_secret(text: str) -> bool:
    """Whether ``text`` holds something that :func:`redact` would take out by pattern."""
    return bool(SECRET_PATTERN.search(text))
