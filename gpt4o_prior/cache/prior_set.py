"""A prior set: the name a dataset config uses to pick one kind of prior out of a cache.

One cache can hold several priors for the same inputs (a GPT restoration, a classical enhancement, a simulated
prior); each is produced by one provider/model/prompt/parameter combination, and a :class:`PriorSet` gives that
combination a name such as ``"ohaze-gpt"``.

Example:
    >>> s = PriorSet(name="ohaze-gpt", provider="openai-images", model="gpt-image-1.5", label="gpt",
    ...              prompt_id="dehaze", prompt_version=1, prompt_text="Remove the haze.", params={"size": "1024x1024"})
    >>> PriorSet.from_dict(s.to_dict()) == s
    True
    >>> len(s.request_key("0" * 64))
    64
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from .key import canonical_json, request_key

__all__ = ["PriorSet", "check_set_name", "LABELS"]

#: The labels the project knows; any other non-empty string is allowed too.
LABELS = ("gpt", "classical", "simulated", "released-gpt")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_set_name(name: Any) -> str:
    """Check a set name (letters, digits, ``.``, ``_``, ``-``; it becomes a file name); return it.

    Example:
        >>> check_set_name("ohaze-gpt")
        'ohaze-gpt'
        >>> check_set_name("../etc")
        Traceback (most recent call last):
        ...
        ValueError: prior set name must be 1-128 characters of letters, digits, ... got '../etc'
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError("prior set name must be 1-128 characters of letters, digits, '.', '_' or '-' starting "
                         f"with a letter or digit, got {name!r}")
    return name


@dataclass(frozen=True)
class PriorSet:
    """Which provider, model, prompt and parameters make the priors of one named set.

    Args:
        name: the set's name, used by dataset configs (``prior_set: ohaze-gpt``).
        provider: provider id (``"openai-images"``, ``"released"``, ``"classical"``, ...).
        model: model name, or None for providers without one.
        label: ``"gpt"``, ``"classical"``, ``"simulated"``, ``"released-gpt"`` or another string.
        prompt_id: prompt identifier (``"dehaze"``), or None.
        prompt_version: prompt version, or None.
        prompt_text: the prompt text, or None.
        params: the request parameters shared by the set (JSON values).
        description: free text for people.
    """

    name: str
    provider: str
    model: str | None = None
    label: str = "gpt"
    prompt_id: str | None = None
    prompt_version: int | str | None = None
    prompt_text: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        check_set_name(self.name)
        if not isinstance(self.provider, str) or not self.provider:
            raise ValueError(f"PriorSet {self.name!r}: provider must be a non-empty string, got {self.provider!r}")
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"PriorSet {self.name!r}: label must be a non-empty string such as {LABELS}")
        if not isinstance(self.params, Mapping):
            raise TypeError(f"PriorSet {self.name!r}: params must be a dict, got {type(self.params).__name__}")
        object.__setattr__(self, "params", dict(self.params))
        canonical_json(self.params)  # JSON values only, no credentials

    def to_dict(self) -> dict[str, Any]:
        """The set as a JSON-able dict (the content of ``sets/<name>.json``)."""
        d = asdict(self)
        d["params"] = dict(self.params)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PriorSet":
        """Build a set from :meth:`to_dict` output; unknown fields are an error naming them."""
        known = {f.name for f in fields(cls)}
        extra = sorted(set(d) - known)
        if extra:
            raise ValueError(f"unknown PriorSet field(s) {extra}; known fields: {sorted(known)}")
        return cls(**dict(d))

    def request_key(self, input_sha256: str, *, params: Mapping[str, Any] | None = None) -> str:
        """The request key of this set for one input.

        Args:
            input_sha256: sha256 of the input as sent (see :func:`gpt4o_prior.cache.request_key`).
            params: the parameters actually sent, when a provider adds per-image ones; default the set's.
        """
        return request_key(provider=self.provider, model=self.model, prompt_text=self.prompt_text,
                           prompt_version=self.prompt_version,
                           params=self.params if params is None else params, input_sha256=input_sha256)
