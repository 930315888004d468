"""The error raised when a dataset, a loader or ``restore`` asks for priors the cache does not hold (one error for
all of them; :mod:`gpt4o_prior.cache.missing` builds it for a list of inputs, with the command that fills them).

Example:
    >>> err = PriorMissingError("ohaze-gpt", "data/0001_hazy.png", source_sha256="ab" * 32)
    >>> isinstance(err, KeyError), "ohaze-gpt" in str(err), "0001_hazy.png" in str(err)
    (True, True, True)
"""
from __future__ import annotations

__all__ = ["PriorMissingError", "UnknownSetError"]


class PriorMissingError(KeyError, FileNotFoundError):
    """No usable prior for one or more inputs in a prior set.

    Both a ``KeyError`` (a lookup that found nothing) and a ``FileNotFoundError`` (files the run needs are not
    there), so callers catching either keep working; prints a full sentence (``KeyError`` would print its
    argument's repr).

    Args:
        set_name: the prior set that was asked.
        input_name: the (first) input file, or a description of in-memory data.
        source_sha256: the input's content hash, if known.
        reason: why there is no prior ("missing" or the provider's refusal reason).
        cache_root: the cache folder, used in the suggested command.
        command: the command that fills the cache (default: ``generate`` with placeholders).
        missing: every input without a prior (default: ``[input_name]``).
        message: the whole message (default: one sentence about ``input_name``, the command and the fallbacks).

    Attributes:
        set_name, input_name, source_sha256, reason, command, missing: as given.
    """

    def __init__(self, set_name: str, input_name: str, *, source_sha256: str | None = None,
                 reason: str = "missing", cache_root: str | None = None, command: str | None = None,
                 missing: list[str] | None = None, message: str | None = None):
        self.set_name = set_name
        self.input_name = input_name
        self.source_sha256 = source_sha256
        self.reason = reason
        self.missing = list(missing) if missing is not None else [str(input_name)]
        root = cache_root or "<cache>"
        self.command = command or (f"gpt4o-prior generate <input folder> --cache {root} --set {set_name} "
                                   "--task <task> --model <image model>")
        if message is None:
            digest = f" (content sha256 {source_sha256[:16]}...)" if source_sha256 else ""
            if reason == "missing":
                what = f"no prior in set {set_name!r} for input {input_name}{digest}"
            else:
                what = f"the prior in set {set_name!r} for input {input_name}{digest} is unusable: {reason}"
            message = (f"{what}. Fill the cache with `{self.command}`, or choose a fallback (fallback='skip', "
                       "'input' or 'zeros').")
        self.message = message
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class UnknownSetError(KeyError):
    """A prior set name that is not registered in the cache; the message lists the known ones.

    Example:
        >>> print(UnknownSetError("ohaze", ["lol-gpt"], "priors/"))
        no prior set 'ohaze' in cache priors/; known sets: ['lol-gpt']. Register it with ...
    """

    def __init__(self, name: str, known: list[str], cache_root: str):
        self.name = name
        self.known = list(known)
        self.message = (f"no prior set {name!r} in cache {cache_root}; known sets: {self.known}. Register it with "
                        "PriorCache.register_set(PriorSet(...)) or `gpt4o-prior generate --set ...`.")
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message
