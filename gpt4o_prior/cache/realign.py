"""Re-align a prior set in place: each raw answer brought to its input again, with the alignment of today.

What ``gpt4o-prior align`` runs. A set filled with ``--no-register``, made before the dense step existed, or aligned
with an older version is brought up to date by re-aligning every raw answer of the set (the raw answers are kept
in the cache, so nothing is sent again). With the input folder, each prior is registered to its input and aligned
densely, and its confidence map is stored beside it; without it, only the recorded send-time fit is undone.

Example:
    >>> import tempfile, numpy as np
    >>> from gpt4o_prior.cache import PriorCache, PriorSet
    >>> cache = PriorCache(tempfile.mkdtemp())
    >>> _ = cache.register_set(PriorSet(name="s", provider="test"))
    >>> realign_set(cache, "s").aligned
    0
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RealignReport", "realign_set"]


@dataclass
class RealignReport:
    """What :func:`realign_set` did.

    Attributes:
        aligned: priors aligned (and stored) now.
        skipped: priors that were aligned already (left alone without ``force``).
        missing: source names (or hashes) of priors that could not be aligned: no input given and no send-time fit
            recorded.
        qualities: each registration's quality score (registered priors only).
        confidences: each dense alignment's mean confidence (densely aligned priors only).
    """

    aligned: int = 0
    skipped: int = 0
    missing: list[str] = field(default_factory=list)
    qualities: list[float] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)

    def summary(self, set_name: str) -> str:
        """One line, as ``gpt4o-prior align`` prints it."""
        q, c = self.qualities, self.confidences
        return (f"set {set_name}: aligned {self.aligned}, already aligned {self.skipped}"
                + (f", mean alignment quality {sum(q) / len(q):.3f}" if q else "")
                + (f", mean confidence {sum(c) / len(c):.3f}" if c else "")
                + (f"; {len(self.missing)} need --inputs (no send transform recorded)" if self.missing else ""))


def realign_set(cache: Any, set_name: str, inputs: str | Path | None = None, *, force: bool = False,
                register: bool = True, dense: bool = True) -> RealignReport:
    """Align every raw prior of ``set_name`` to its input again and store the aligned copies (and confidences).

    Args:
        cache: the :class:`~gpt4o_prior.cache.PriorCache`.
        set_name: the set (it must be registered).
        inputs: the folder of the set's input images (found by content hash, any names): register each prior to
            its input (and, with ``dense``, align it densely and store its confidence). Without it, only the
            recorded send-time fit is undone and no confidence is stored.
        force: also re-align priors that are aligned already.
        register: register globally to the input (with ``inputs``).
        dense: the dense step and its confidence map after registration (with ``inputs`` and ``register``).

    Returns:
        the :class:`RealignReport`.

    Raises:
        KeyError: ``set_name`` is not a set of the cache.
        FileNotFoundError: ``inputs`` does not exist or holds no image.
    """
    from ..align import align_with_confidence, undo_fit
    from ..data.io import list_images, read_rgb
    from .key import sha256_file

    cache.get_set(set_name)
    by_sha = {sha256_file(p): p for p in list_images(inputs)} if inputs else {}
    report = RealignReport()
    dense = bool(register and dense)
    for entry in cache.iter_entries():
        if entry.status != "ok" or entry.raw_path is None:
            continue
        for link in entry.meta.get("sources") or []:
            if link.get("set_name") != set_name:
                continue
            src = link.get("source_sha256")
            if link.get("file") and not force:
                report.skipped += 1
                continue
            prior = read_rgb(entry.raw_path)
            transform = entry.meta.get("send_transform")
            path = by_sha.get(src)
            if path is not None:
                back, confidence, record = align_with_confidence(prior, read_rgb(path), record=transform,
                                                                 register=register, dense=dense)
                if record.get("dense") is None:
                    confidence = None  # no dense step: no confidence file (the prior reads as confidence 1)
                else:
                    report.confidences.append(float(record["dense"].get("confidence_mean",
                                                                        float(confidence.mean()))))
                score = (record or {}).get("quality")
                if isinstance(score, (int, float)):
                    report.qualities.append(float(score))
            elif not transform:
                report.missing.append(link.get("source_name") or src)
                continue
            else:
                back, confidence = undo_fit(prior, transform), None
                record = {"fit": transform, "undo": "fit", "registered": False, "dense": None,
                          "reason": "aligned without --inputs"}
            cache.put_aligned(entry.key, np.ascontiguousarray(back), alignment=record, confidence=confidence,
                              set_name=set_name, source_sha256=src)
            report.aligned += 1
    return report
