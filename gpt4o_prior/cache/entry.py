"""One cache entry: the sidecar of a request key and the paths of its images.

Example:
    >>> from pathlib import Path
    >>> e = CacheEntry(key="0" * 64, meta={"status": "ok"}, status="ok", raw_path=Path("x.png"), aligned_path=None)
    >>> e.ok, e.image_path, e.confidence_path
    (True, PosixPath('x.png'), None)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CacheEntry", "STATUSES"]

#: ``ok``: a prior was returned; ``refused``: the provider refused (moderation, error) and nothing is stored.
STATUSES = ("ok", "refused")


@dataclass(frozen=True)
class CacheEntry:
    """What the cache holds for one request key.

    Attributes:
        key: the request key.
        meta: the sidecar (provenance, hashes, sizes, sources, alignment record), as a dict.
        status: ``"ok"`` or ``"refused"``.
        raw_path: the output file exactly as returned (None for refusals).
        aligned_path: the prior aligned to the input's geometry, or None when none was stored (then the raw output
            already has the input's size, or alignment has yet to be run).
        source_sha256: the input this view of the entry belongs to (set by ``PriorCache.find``), else None.
        confidence_path: the aligned prior's confidence map (8-bit grey PNG, value / 255), or None when it has
            none (then it reads as confidence 1 everywhere, as caches made before confidence maps implied).
    """

    key: str
    meta: dict[str, Any] = field(repr=False)
    status: str
    raw_path: Path | None
    aligned_path: Path | None
    source_sha256: str | None = None
    confidence_path: Path | None = None

    @property
    def ok(self) -> bool:
        """True when the entry holds a prior."""
        return self.status == "ok"

    @property
    def image_path(self) -> Path | None:
        """The file a dataset reads: the aligned prior if stored, else the raw output."""
        return self.aligned_path if self.aligned_path is not None else self.raw_path

    def load(self, *, aligned: bool = True) -> np.ndarray:
        """Decode the aligned prior (or the raw output with ``aligned=False``) as (H, W, 3) uint8 RGB."""
        from .image_io import read_rgb

        path = self.image_path if aligned else self.raw_path
        if path is None:
            raise ValueError(f"cache entry {self.key} has status {self.status!r} and holds no image")
        return read_rgb(path)

    def load_confidence(self) -> np.ndarray:
        """The aligned prior's confidence as (H, W) float32 in [0, 1]; ones of the prior's size when it has none.

        Unlike ``PriorCache.load_prior(..., with_confidence=True)`` this reads the files this view of the sidecar
        names without checking that they belong together; use it for inspection, not from a dataset.
        """
        from ..dense_align import confidence_from_uint8
        from .image_io import decode_grey, image_size

        if self.confidence_path is None:
            path = self.image_path
            if path is None:
                raise ValueError(f"cache entry {self.key} has status {self.status!r} and holds no image")
            return np.ones(image_size(Path(path).read_bytes()), np.float32)
        return confidence_from_uint8(decode_grey(Path(self.confidence_path).read_bytes(), str(self.confidence_path)))
