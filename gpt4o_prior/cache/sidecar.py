"""What a sidecar holds and how its files are named: credentials scrubbed from metadata, the files an entry may
name, the confidence file beside an aligned prior and the token by which the aligned file names it, and the
manifest lines of a sidecar.

The sidecar (``objects/ab/cd/<key>.json``) is the truth of an entry; :mod:`gpt4o_prior.cache.store` writes and
reads it, :mod:`gpt4o_prior.cache.verify` checks it against its files.

Example:
    >>> confidence_name("k.aligned.png"), safe_file("k", "k.png"), safe_file("k", "../x.png")
    ('k.confidence.png', True, False)
    >>> scrub_meta({"api_key": "x", "n": 1}, "meta", [])
    {'api_key': '[redacted]', 'n': 1}
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..secrets import REDACTED, SECRET_NAMES, SECRET_PATTERN
from .image_io import png_text

__all__ = ["CONFIDENCE_FORMAT", "CONF_KEYWORD", "ALIGNED_SUFFIX", "CONF_SUFFIX", "RESERVED", "now_iso", "scrub_meta",
           "safe_file", "confidence_name", "confidence_token", "check_confidence_map", "manifest_records",
           "dense_version"]

#: Format of confidence files: an 8-bit grey PNG, confidence = value / 255, the aligned prior's height and width.
CONFIDENCE_FORMAT = 1
#: PNG text keyword by which an aligned prior names the sha256 of its confidence file.
CONF_KEYWORD = "gpt4o-prior:confidence"
ALIGNED_SUFFIX = ".aligned.png"
CONF_SUFFIX = ".confidence.png"
#: Sidecar fields the cache writes itself; user metadata may not set them.
RESERVED = ("schema", "key", "status", "files", "sources", "stored_at", "redacted")


def now_iso() -> str:
    """The current UTC time, ISO 8601 with microseconds (the sidecars' time stamps)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def scrub_meta(obj: Any, path: str, redacted: list[str]) -> Any:
    """Copy of ``obj`` with credentials replaced by ``"[redacted]"`` (their paths are noted, never their values)."""
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            k = str(k)
            if k.lower() in SECRET_NAMES:
                out[k] = REDACTED
                redacted.append(f"{path}.{k}")
            else:
                out[k] = scrub_meta(v, f"{path}.{k}", redacted)
        return out
    if isinstance(obj, (list, tuple)):
        return [scrub_meta(v, f"{path}[{i}]", redacted) for i, v in enumerate(obj)]
    if isinstance(obj, str) and SECRET_PATTERN.search(obj):
        redacted.append(path)
        return SECRET_PATTERN.sub(REDACTED, obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return repr(obj)


def safe_file(key: str, fname: Any) -> bool:
    """A file named in a sidecar must be one of the key's own files in its shard (no path can leave the root)."""
    return (isinstance(fname, str) and fname.startswith(key + ".") and "/" not in fname and "\\" not in fname
            and ".." not in fname[len(key):])


def confidence_name(aligned_name: str) -> str:
    """The confidence file beside an aligned file: ``X.aligned.png`` -> ``X.confidence.png``."""
    return aligned_name[:-len(ALIGNED_SUFFIX)] + CONF_SUFFIX


def confidence_token(fname: str, data: bytes) -> dict[str, Any] | None:
    """What an aligned file says about its confidence file (``{"format", "sha256"}``), or None if it has none."""
    if not fname.endswith(ALIGNED_SUFFIX):
        return None
    text = png_text(data).get(CONF_KEYWORD)
    if text is None:
        return None
    try:
        token = json.loads(text)
    except ValueError:
        return None
    return token if isinstance(token, dict) and isinstance(token.get("sha256"), str) else None


def check_confidence_map(confidence: Any, hw: tuple[int, int], key: str) -> np.ndarray:
    """``confidence`` as float32 after checking it: (H, W) like its aligned prior, finite, in [0, 1]."""
    what = f"confidence for key {key}"
    if not isinstance(confidence, np.ndarray) or confidence.dtype.kind not in "fiub":
        got = f"dtype {confidence.dtype}" if isinstance(confidence, np.ndarray) else type(confidence).__name__
        raise ValueError(f"{what} must be an (H, W) float32 numpy array in [0, 1], got {got}")
    if confidence.shape != tuple(hw):
        raise ValueError(f"{what} must have shape (H, W) = {tuple(hw)}, the aligned prior's height and width, got "
                         f"shape {tuple(confidence.shape)}")
    c = confidence.astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(c)))
    if bad:
        raise ValueError(f"{what} has {bad} non-finite value(s) (NaN or inf); fix the alignment step that made it")
    lo, hi = (float(c.min()), float(c.max())) if c.size else (0.0, 0.0)
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{what} must lie in [0, 1], got values in [{lo:g}, {hi:g}]; clip it, or divide a uint8 "
                         "map by 255")
    return c


def manifest_records(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Manifest lines for every source link of a sidecar ``meta`` (paths relative to the cache root)."""
    key = meta["key"]
    shard_rel = f"objects/{key[:2]}/{key[2:4]}"
    files = {f: info for f, info in (meta.get("files") or {}).items() if safe_file(key, f)}
    raw = next((f for f, info in files.items() if info.get("role") == "raw"), None)
    out = []
    for s in meta.get("sources") or []:
        fname = s.get("file") if s.get("file") in files else raw
        info = files.get(fname, {}) if fname else {}
        rec = {"set": s.get("set_name"), "src": s.get("source_sha256"), "key": key,
               "status": meta.get("status", "ok"),
               "file": f"{shard_rel}/{fname}" if fname and meta.get("status", "ok") == "ok" else None,
               "h": info.get("height"), "w": info.get("width"), "name": s.get("source_name"),
               "provider": meta.get("provider"), "model": meta.get("model"), "cost_usd": meta.get("cost_usd"),
               "at": s.get("linked_at")}
        if meta.get("status") == "refused":
            rec["reason"] = meta.get("reason") or meta.get("code") or "refused by the provider"
        out.append(rec)
    return out


def dense_version(alignment: Any) -> Any:
    """``alignment["dense"]["version"]`` of an alignment record, or None."""
    dense = alignment.get("dense") if isinstance(alignment, Mapping) else None
    return dense.get("version") if isinstance(dense, Mapping) else None
