"""The prior cache: a content-addressed, crash-safe, multi-process store of priors and their provenance.

Layout under the cache root::

    cache.json                      layout marker (schema version)
    sets/<name>.json                registered prior sets
    objects/ab/cd/<key>.json        sidecar: provenance, hashes, sizes, sources, alignment record (the truth)
    objects/ab/cd/<key>.png         the output exactly as returned (.jpg / .webp if it came back so)
    objects/ab/cd/<key>.aligned.png the prior aligned to its input's geometry
    manifest.jsonl                  index (set, input hash) -> file; rebuilt from the sidecars at will
    inputs.jsonl                    memo: input file (path, size, mtime, inode) -> content hash
    claims/<key>.claim              exclusive claims of in-flight paid requests
    quarantine/<time>/...           what ``verify(quarantine=True)`` moved away

Every file is written atomically; the sidecar is written last and is the commit point of an entry.

Example:
    >>> import tempfile, numpy as np
    >>> from gpt4o_prior.cache import PriorCache, PriorSet, sha256_bytes
    >>> from gpt4o_prior.cache.image_io import encode_png
    >>> cache = PriorCache(tempfile.mkdtemp())
    >>> cache.register_set(PriorSet(name="demo-classical", provider="identity", label="classical"))
    >>> src = encode_png(np.full((4, 6, 3), 7, np.uint8))
    >>> key = cache.get_set("demo-classical").request_key(sha256_bytes(src))
    >>> with cache.claim(key) as claimed:
    ...     if claimed and cache.entry(key) is None:
    ...         _ = cache.put(key, src, meta={"provider": "identity"}, set_name="demo-classical",
    ...                       source_sha256=sha256_bytes(src), source_name="a.png")
    >>> cache.load_prior_by_hash("demo-classical", sha256_bytes(src), size=(4, 6))[0, 0].tolist()
    [7, 7, 7]
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..data.io import IMAGE_SUFFIXES
from .atomic import TMP_SUFFIX, atomic_write_bytes, atomic_write_json
from .claim import DEFAULT_STALE_AFTER, Claim
from .entry import CacheEntry
from .errors import PriorMissingError, UnknownSetError
from .image_io import EXTENSIONS, decode_rgb, encode_png, image_size, read_rgb, sniff_format
from .key import SECRET_NAMES, check_key, check_sha256, sha256_bytes, sha256_file
from .locks import file_lock
from .manifest import ManifestReader, append_records, manifest_lock, write_manifest
from .prior_set import PriorSet, check_set_name

__all__ = ["PriorCache", "VerifyReport", "FALLBACKS", "CACHE_SCHEMA_VERSION", "IMAGE_SUFFIXES"]

#: Version of the on-disk layout and sidecar format.
CACHE_SCHEMA_VERSION = 1
#: What ``load_prior`` does when a prior is missing or was refused.
FALLBACKS = ("error", "skip", "input", "zeros")
#: Input files ``stats(inputs=folder)`` looks at.

_RESERVED = ("schema", "key", "status", "files", "sources", "stored_at", "redacted")
_SECRET_VALUE = re.compile(r"(sk-[A-Za-z0-9_\-]{16,}|Bearer\s+\S{8,})")


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _scrub(obj: Any, path: str, redacted: list[str]) -> Any:
    """Copy of ``obj`` with credentials replaced by ``"[redacted]"`` (their paths are noted, never their values)."""
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            k = str(k)
            if k.lower() in SECRET_NAMES:
                out[k] = "[redacted]"
                redacted.append(f"{path}.{k}")
            else:
                out[k] = _scrub(v, f"{path}.{k}", redacted)
        return out
    if isinstance(obj, (list, tuple)):
        return [_scrub(v, f"{path}[{i}]", redacted) for i, v in enumerate(obj)]
    if isinstance(obj, str) and _SECRET_VALUE.search(obj):
        redacted.append(path)
        return _SECRET_VALUE.sub("[redacted]", obj)
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


def _safe_file(key: str, fname: Any) -> bool:
    """A file named in a sidecar must be one of the key's own files in its shard (no path can leave the root)."""
    return (isinstance(fname, str) and fname.startswith(key + ".") and "/" not in fname and "\\" not in fname
            and ".." not in fname[len(key):])


def _check_image(image: Any, name: str) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = (f"shape {tuple(image.shape)} dtype {image.dtype}" if isinstance(image, np.ndarray)
               else type(image).__name__)
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB numpy array, got {got}")
    return image


@dataclass
class VerifyReport:
    """What ``PriorCache.verify`` found.

    Attributes:
        entries: sidecars checked.
        files: image files checked against their recorded sha256.
        corrupt: ``{"key", "file", "problem"}`` for each sidecar or file that is unreadable, missing or whose hash
            differs.
        orphans: files under ``objects/`` that no sidecar names (e.g. left by a crash before the commit).
        unindexed: ``(set, input hash)`` links present in sidecars but absent from the manifest.
        dangling: manifest links whose entry does not exist.
        manifest_bad_lines: manifest lines that do not parse.
        stale_claims: claim files whose owner is gone.
        quarantined: paths moved to ``quarantine/`` (with ``quarantine=True``).
    """

    entries: int = 0
    files: int = 0
    corrupt: list[dict[str, str]] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    unindexed: list[list[str]] = field(default_factory=list)
    dangling: list[list[str]] = field(default_factory=list)
    manifest_bad_lines: int = 0
    stale_claims: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is corrupt or orphaned and the manifest matches the sidecars."""
        return not (self.corrupt or self.orphans or self.unindexed or self.dangling or self.manifest_bad_lines)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["ok"] = self.ok
        return d


class PriorCache:
    """A prior cache rooted at one folder. Cheap to build, picklable, safe for many processes at once.

    Args:
        root: the cache folder (created if missing).
        stale_after: seconds after which another process's claim may be taken over.
        durable: fsync files and folders on write (keep on; off only for throwaway caches).
        remember_inputs: keep the content hashes of input files read by ``load_prior`` in ``inputs.jsonl``
            (keyed by absolute path, size, mtime and inode), so new processes (DataLoader workers of a new epoch,
            other runs) skip re-hashing unchanged files. A changed file has a new key and is hashed again.

    Example:
        >>> import tempfile, pickle
        >>> cache = PriorCache(tempfile.mkdtemp())
        >>> pickle.loads(pickle.dumps(cache)).root == cache.root
        True
    """

    def __init__(self, root: str | os.PathLike, *, stale_after: float = DEFAULT_STALE_AFTER, durable: bool = True,
                 remember_inputs: bool = True):
        self.root = Path(root)
        self.stale_after = float(stale_after)
        self.durable = bool(durable)
        self.remember_inputs = bool(remember_inputs)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OSError(f"cannot create the prior cache folder {self.root}: {e.strerror}") from e
        if not self.root.is_dir():
            raise NotADirectoryError(f"prior cache root {self.root} exists and is not a folder")
        marker = self.root / "cache.json"
        if marker.exists():
            try:
                schema = json.loads(marker.read_text(encoding="utf-8")).get("schema", CACHE_SCHEMA_VERSION)
            except (ValueError, AttributeError):
                schema = CACHE_SCHEMA_VERSION  # a damaged marker costs nothing: the sidecars are the truth
            if isinstance(schema, int) and schema > CACHE_SCHEMA_VERSION:
                raise RuntimeError(f"prior cache {self.root} was written by a newer gpt4o-prior (cache schema "
                                   f"{schema}, this version reads {CACHE_SCHEMA_VERSION}); upgrade gpt4o-prior")
        else:
            try:
                atomic_write_json(marker, {"format": "gpt4o-prior cache", "schema": CACHE_SCHEMA_VERSION},
                                  durable=self.durable)
            except OSError:
                pass  # a read-only cache is fine for reading
        self._init_process_state()

    # ------------------------------------------------------------------ process-local state
    def _init_process_state(self) -> None:
        self._reader: ManifestReader | None = None
        self._scanned: dict[tuple[str, str], dict[str, Any]] | None = None
        self._memo: dict[tuple, tuple[str, int, int]] = {}
        self._memo_loaded = False

    def __getstate__(self):
        return {"root": self.root, "stale_after": self.stale_after, "durable": self.durable,
                "remember_inputs": self.remember_inputs}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_process_state()

    def __repr__(self) -> str:
        return f"PriorCache({str(self.root)!r})"

    # ------------------------------------------------------------------ paths
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.jsonl"

    def _shard(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / key[2:4]

    def sidecar_path(self, key: str) -> Path:
        """Where the sidecar of ``key`` lives."""
        check_key(key)
        return self._shard(key) / f"{key}.json"

    def _set_path(self, name: str) -> Path:
        return self.root / "sets" / f"{check_set_name(name)}.json"

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _key_lock(self, key: str) -> contextlib.AbstractContextManager[None]:
        folder = self.root / "locks"
        folder.mkdir(exist_ok=True)
        return file_lock(folder / f"{key[:2]}.lock")

    # ------------------------------------------------------------------ sets
    def register_set(self, pset: PriorSet) -> None:
        """Record a prior set under ``sets/<name>.json``.

        Re-registering an identical set does nothing; the same name with other fields raises ``ValueError``
        naming both. Creation is atomic and race-free (two processes registering the same name at once: one
        wins, the other compares).
        """
        if not isinstance(pset, PriorSet):
            raise TypeError(f"register_set expects a PriorSet, got {type(pset).__name__}")
        path = self._set_path(pset.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
            tmp.write_text(json.dumps(pset.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
            try:
                os.link(tmp, path)  # fails if the name exists: create-if-absent, atomically
                return
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        existing = self.get_set(pset.name)
        if existing != pset:
            raise ValueError(f"prior set {pset.name!r} is already registered in {path} as {existing.to_dict()}, "
                             f"which differs from {pset.to_dict()}; choose another name for the new set")

    def get_set(self, name: str) -> PriorSet:
        """The registered set ``name``; ``UnknownSetError`` (a ``KeyError``) listing known sets if missing."""
        path = self._set_path(name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UnknownSetError(name, [s.name for s in self.list_sets()], str(self.root)) from None
        except ValueError as e:
            raise ValueError(f"prior set file {path} is not valid JSON ({e}); fix or delete it") from None
        return PriorSet.from_dict(data)

    def list_sets(self) -> list[PriorSet]:
        """All registered sets, sorted by name."""
        folder = self.root / "sets"
        if not folder.is_dir():
            return []
        return [self.get_set(p.stem) for p in sorted(folder.glob("*.json"))]

    # ------------------------------------------------------------------ entries
    def _read_sidecar(self, key: str) -> dict[str, Any] | None:
        try:
            meta = json.loads(self.sidecar_path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            return None  # damaged: verify() reports it; a new put() replaces it
        return meta if isinstance(meta, dict) and meta.get("key") == key else None

    def _entry(self, meta: dict[str, Any], source_sha256: str | None = None) -> CacheEntry:
        key = meta["key"]
        shard = self._shard(key)
        files = {f: info for f, info in (meta.get("files") or {}).items() if _safe_file(key, f)}
        raw = next((shard / f for f, info in files.items() if info.get("role") == "raw"), None)
        sources = meta.get("sources") or []
        aligned = None
        chosen = None
        if source_sha256 is not None:
            chosen = next((s for s in sources if s.get("source_sha256") == source_sha256), None)
        elif sources:
            chosen = sources[0]
        if chosen is not None and chosen.get("file") and files.get(chosen["file"], {}).get("role") == "aligned":
            aligned = shard / chosen["file"]
        elif chosen is None:
            aligned = next((shard / f for f, info in files.items() if info.get("role") == "aligned"), None)
        return CacheEntry(key=key, meta=meta, status=meta.get("status", "ok"), raw_path=raw, aligned_path=aligned,
                          source_sha256=source_sha256)

    def entry(self, key: str) -> CacheEntry | None:
        """The entry stored under ``key``, or None (also None for a damaged sidecar, which ``verify`` reports)."""
        meta = self._read_sidecar(check_key(key))
        return None if meta is None else self._entry(meta)

    def iter_entries(self) -> Iterator[CacheEntry]:
        """Every readable entry (sidecar scan; order unspecified)."""
        for path in self._sidecar_files():
            meta = self._read_sidecar(path.stem)
            if meta is not None:
                yield self._entry(meta)

    def _sidecar_files(self) -> Iterator[Path]:
        objects = self.root / "objects"
        if not objects.is_dir():
            return
        for a in sorted(os.scandir(objects), key=lambda d: d.name):
            if not a.is_dir():
                continue
            for b in sorted(os.scandir(a.path), key=lambda d: d.name):
                if not b.is_dir():
                    continue
                for f in sorted(os.scandir(b.path), key=lambda d: d.name):
                    if f.name.endswith(".json") and not f.name.startswith("."):
                        yield Path(f.path)

    def claim(self, key: str, *, stale_after: float | None = None) -> Claim:
        """An exclusive claim on ``key``: ``with cache.claim(key) as claimed:`` (True if this process holds it)."""
        return Claim(self.root / "claims", check_key(key),
                     stale_after=self.stale_after if stale_after is None else stale_after)

    # ------------------------------------------------------------------ writing
    def _user_meta(self, meta: Mapping[str, Any] | None, key: str, status: str) -> tuple[dict[str, Any], list[str]]:
        if meta is None:
            meta = {}
        if not isinstance(meta, Mapping):
            raise TypeError(f"meta must be a dict of provenance fields, got {type(meta).__name__}")
        meta = dict(meta)
        if meta.get("key", key) != key:
            raise ValueError(f"meta['key'] is {meta['key']!r} but the entry is being stored under {key!r}")
        if meta.get("status", status) != status:
            raise ValueError(f"meta['status'] is {meta['status']!r}; use put() for results and put_refusal() "
                             "for refusals")
        meta.pop("key", None)
        meta.pop("status", None)
        clash = sorted(set(meta) & set(_RESERVED))
        if clash:
            raise ValueError(f"meta field(s) {clash} are written by the cache itself; rename them")
        redacted: list[str] = []
        clean = _scrub(meta, "meta", redacted)
        return clean, redacted

    def _link(self, set_name: str | None, source_sha256: str | None, source_name: str | None) -> dict | None:
        if set_name is None and source_sha256 is None:
            return None
        if set_name is None or source_sha256 is None:
            raise ValueError("put() needs both set_name and source_sha256 to link an entry to a dataset input "
                             f"(got set_name={set_name!r}, source_sha256={source_sha256!r})")
        check_set_name(set_name)
        check_sha256(source_sha256, "source_sha256")
        if source_name is not None:
            source_name = os.fspath(source_name)
        return {"set_name": set_name, "source_sha256": source_sha256, "source_name": source_name,
                "linked_at": _now_iso()}

    def _write_file(self, shard: Path, name: str, data: bytes) -> None:
        atomic_write_bytes(shard / name, data, durable=self.durable)

    def _add_aligned(self, meta: dict, shard: Path, key: str, link: dict | None, aligned: np.ndarray) -> str:
        """Store an aligned image for ``link`` (or the entry), return its file name; reuses identical files."""
        data = encode_png(_check_image(aligned, "aligned"))
        digest = sha256_bytes(data)
        files = meta.setdefault("files", {})
        for fname, info in files.items():
            if info.get("role") == "aligned" and info.get("sha256") == digest:
                return fname
        primary = f"{key}.aligned.png"
        sources = meta.get("sources") or []
        first = sources[0]["source_sha256"] if sources else None
        mine = None if link is None else link["source_sha256"]
        shared = any(s.get("file") == primary and s.get("source_sha256") != mine for s in sources)
        if primary not in files or ((link is None or mine == first) and not shared):
            fname = primary
        else:
            fname = f"{key}.{link['source_sha256'][:16]}.aligned.png"
        self._write_file(shard, fname, data)
        files[fname] = {"role": "aligned", "sha256": digest, "bytes": len(data), "height": int(aligned.shape[0]),
                        "width": int(aligned.shape[1])}
        return fname

    def _merge_link(self, meta: dict, link: dict | None, fname: str | None, alignment: Any) -> None:
        if link is None:
            return
        link = dict(link)
        if fname is not None:
            link["file"] = fname
        if alignment is not None:
            link["alignment"] = alignment
        sources = meta.setdefault("sources", [])
        for i, s in enumerate(sources):
            if s.get("set_name") == link["set_name"] and s.get("source_sha256") == link["source_sha256"]:
                if "file" not in link and s.get("file"):
                    link["file"] = s["file"]
                sources[i] = {**s, **link}
                return
        if "file" not in link:  # same input seen before under another set: reuse its aligned file
            same = next((s for s in sources if s.get("source_sha256") == link["source_sha256"] and s.get("file")), None)
            if same is not None:
                link["file"] = same["file"]
        sources.append(link)

    def _records(self, meta: dict) -> list[dict[str, Any]]:
        """Manifest lines for every source link of a sidecar."""
        key = meta["key"]
        shard_rel = self._rel(self._shard(key))
        files = {f: info for f, info in (meta.get("files") or {}).items() if _safe_file(key, f)}
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

    def _commit(self, meta: dict, link: dict | None = None, *, all_links: bool = False) -> CacheEntry:
        """Write the sidecar (the commit point), then index the link that changed (or every link)."""
        atomic_write_json(self.sidecar_path(meta["key"]), meta, durable=self.durable)
        records = self._records(meta)
        if not all_links:
            want = None if link is None else (link["set_name"], link["source_sha256"])
            records = [r for r in records if (r["set"], r["src"]) == want]
        if records:
            append_records(self.manifest_path, records)
            # This process sees its own write at once, also where it had already read (set, input) before.
            if self._reader is not None:
                self._reader.refresh()
            if self._scanned is not None:
                self._scanned.update({(r["set"], r["src"]): r for r in records})
        return self._entry(meta)

    def put(self, key: str, raw: bytes, meta: Mapping[str, Any] | None = None, *, aligned: np.ndarray | None = None,
            set_name: str | None = None, source_sha256: str | None = None,
            source_name: str | os.PathLike | None = None) -> CacheEntry:
        """Store a provider's output under ``key`` (raw bytes as returned, optional aligned image, provenance).

        If ``key`` already holds a result, the raw output is kept (first write wins: it was paid for once) and
        only the link to this input/set and its aligned image are added. A refusal stored earlier under ``key``
        is replaced by the result.

        Args:
            key: the request key (``request_key(...)``).
            raw: the image bytes exactly as returned (PNG, JPEG or WebP).
            meta: provenance: provider, model, prompt_id, prompt_version, params, request_id, usage, cost_usd,
                returned_size, send_transform, alignment, ... Credentials are redacted, never stored.
            aligned: the prior aligned to the input's geometry, (H, W, 3) uint8 RGB, or None when ``raw`` already
                has the input's size (offline providers) or alignment runs later (``put_aligned``).
            set_name: the prior set this result belongs to.
            source_sha256: sha256 of the ORIGINAL input file bytes (lookups use it).
            source_name: the input's file name, for people.

        Returns:
            the stored entry (as seen from this input).
        """
        key = check_key(key)
        if not isinstance(raw, (bytes, bytearray)):
            raise TypeError(f"raw must be the bytes returned by the provider, got {type(raw).__name__}")
        raw = bytes(raw)
        if not raw:
            raise ValueError(f"raw output for key {key} is empty; store an empty answer with put_refusal()")
        user_meta, redacted = self._user_meta(meta, key, "ok")
        link = self._link(set_name, source_sha256, source_name)
        if aligned is not None:
            _check_image(aligned, "aligned")
        shard = self._shard(key)
        with self._key_lock(key):
            current = self._read_sidecar(key)
            created = current is None or current.get("status") != "ok"
            if created:
                fmt = sniff_format(raw)
                raw_name = f"{key}{EXTENSIONS[fmt]}"
                try:
                    h, w = image_size(raw)
                except Exception:
                    raise ValueError(f"raw output for key {key} is not a readable image ({fmt}, {len(raw)} bytes)") \
                        from None
                self._write_file(shard, raw_name, raw)
                new = {**user_meta, "schema": CACHE_SCHEMA_VERSION, "key": key, "status": "ok",
                       "files": {raw_name: {"role": "raw", "format": fmt, "sha256": sha256_bytes(raw),
                                            "bytes": len(raw), "height": h, "width": w}},
                       "sources": [], "stored_at": _now_iso()}
                if redacted:
                    new["redacted"] = redacted
                if current is not None:  # a refusal being replaced: keep its links, drop its reason
                    new["sources"] = [{k: v for k, v in s.items() if k != "file"} for s in current.get("sources", [])]
                    new["previous_refusal"] = {k: current.get(k) for k in ("reason", "code", "stored_at")}
                current = new
            fname = self._add_aligned(current, shard, key, link, aligned) if aligned is not None else None
            self._merge_link(current, link, fname, user_meta.get("alignment") if link else None)
            entry = self._commit(current, link, all_links=created or fname == f"{key}.aligned.png")
        return self._entry(current, source_sha256) if source_sha256 else entry

    def put_refusal(self, key: str, *, meta: Mapping[str, Any] | None = None, set_name: str | None = None,
                    source_sha256: str | None = None, source_name: str | os.PathLike | None = None) -> CacheEntry:
        """Record that the provider refused ``key`` (moderation, error), so that it is not paid for again.

        ``meta`` should hold ``reason`` and ``code``. An existing result under ``key`` is kept (then only the link
        is added). Datasets treat a refusal as a miss (their fallback applies; the error names the reason).
        """
        key = check_key(key)
        user_meta, redacted = self._user_meta(meta, key, "refused")
        link = self._link(set_name, source_sha256, source_name)
        with self._key_lock(key):
            current = self._read_sidecar(key)
            if current is None:
                current = {**user_meta, "schema": CACHE_SCHEMA_VERSION, "key": key, "status": "refused",
                           "files": {}, "sources": [], "stored_at": _now_iso()}
                if redacted:
                    current["redacted"] = redacted
            self._merge_link(current, link, None, None)
            entry = self._commit(current, link)
        return self._entry(current, source_sha256) if source_sha256 else entry

    def put_aligned(self, key: str, aligned: np.ndarray, *, alignment: Mapping[str, Any] | None = None,
                    set_name: str | None = None, source_sha256: str | None = None) -> CacheEntry:
        """Store (or replace) the aligned prior of an existing entry, e.g. after re-running alignment.

        Args:
            key: an entry holding a result.
            aligned: (H, W, 3) uint8 RGB in the input's geometry.
            alignment: the record returned by ``align_prior`` (stored in the sidecar).
            set_name, source_sha256: which link it is for (default: every link of the entry).
        """
        key = check_key(key)
        _check_image(aligned, "aligned")
        with self._key_lock(key):
            current = self._read_sidecar(key)
            if current is None or current.get("status") != "ok":
                raise KeyError(f"put_aligned: no stored result under key {key} in cache {self.root}")
            shard = self._shard(key)
            data = encode_png(aligned)
            sources = current.get("sources") or []
            targets = [s for s in sources if (source_sha256 is None or s.get("source_sha256") == source_sha256)
                       and (set_name is None or s.get("set_name") == set_name)]
            if sources and not targets:
                raise KeyError(f"put_aligned: entry {key} has no link for set {set_name!r} / input {source_sha256}")
            primary = not sources or (targets and targets[0] is sources[0])
            fname = f"{key}.aligned.png" if primary else f"{key}.{targets[0]['source_sha256'][:16]}.aligned.png"
            self._write_file(shard, fname, data)
            current.setdefault("files", {})[fname] = {
                "role": "aligned", "sha256": sha256_bytes(data), "bytes": len(data),
                "height": int(aligned.shape[0]), "width": int(aligned.shape[1])}
            clean = _scrub(dict(alignment), "alignment", []) if alignment is not None else None
            for s in targets:
                s["file"] = fname
                if clean is not None:
                    s["alignment"] = clean
            if clean is not None and primary:
                current["alignment"] = clean
            return self._commit(current, all_links=True)

    # ------------------------------------------------------------------ lookup
    def _ensure_reader(self) -> ManifestReader:
        if self._reader is None:
            self._reader = ManifestReader(self.manifest_path)
            self._reader.refresh()
            if self._reader.missing and any(True for _ in self._sidecar_files()):
                self._rebuild_if_missing()
                self._reader.refresh()
        return self._reader

    def _rebuild_if_missing(self) -> None:
        try:
            with manifest_lock(self.manifest_path):
                if self.manifest_path.exists():
                    return
                write_manifest(self.manifest_path, self._all_records(), durable=self.durable, locked=True)
        except OSError:
            pass  # read-only cache: lookups fall back to the sidecar scan

    def _sidecar_records(self, path: Path) -> list[dict[str, Any]]:
        meta = self._read_sidecar(path.stem)
        return [] if meta is None else self._records(meta)

    def _all_records(self) -> list[dict[str, Any]]:
        """Every link of every sidecar, oldest link first (so that, as in the manifest, the newest one wins)."""
        records = [r for p in self._sidecar_files() for r in self._sidecar_records(p)]
        return sorted(records, key=lambda r: r.get("at") or "")

    def _scan(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["set"], r["src"]): r for r in self._all_records()}

    @staticmethod
    def _valid_record(rec: dict[str, Any] | None) -> dict[str, Any] | None:
        """The manifest is not trusted with paths: its file must be one of its key's files in the key's shard."""
        if rec is None:
            return None
        key, f = rec.get("key"), rec.get("file")
        if not isinstance(key, str) or len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            return None
        if f is not None:
            prefix = f"objects/{key[:2]}/{key[2:4]}/"
            if not (isinstance(f, str) and f.startswith(prefix) and _safe_file(key, f[len(prefix):])):
                return None
        return rec

    def _lookup(self, set_name: str, src: str, *, heal: bool = True) -> dict[str, Any] | None:
        reader = self._ensure_reader()
        rec = self._valid_record(reader.get(set_name, src))
        if rec is None or rec.get("status") != "ok":  # a miss or a refusal: something newer may have come in
            reader.refresh()
            rec = self._valid_record(reader.get(set_name, src))
        if rec is None and heal:
            # The manifest may lag the sidecars (a crash between the two writes, a damaged or missing manifest):
            # scan the sidecars once per process, then rely on incremental refreshes.
            if self._scanned is None:
                self._scanned = self._scan()
            rec = self._scanned.get((set_name, src))
        return rec

    def find(self, set_name: str, source_sha256: str) -> CacheEntry | None:
        """The entry linked to the input whose ORIGINAL file bytes hash to ``source_sha256`` in ``set_name``."""
        check_set_name(set_name)
        check_sha256(source_sha256, "source_sha256")
        rec = self._lookup(set_name, source_sha256)
        if rec is None:
            return None
        meta = self._read_sidecar(rec["key"])
        if meta is None:
            return None
        return self._entry(meta, source_sha256)

    def _read_record(self, rec: dict[str, Any], set_name: str, src: str) -> np.ndarray | None:
        try:
            return read_rgb(self.root / rec["file"])
        except FileNotFoundError:
            # Quarantined or replaced since this process read the manifest: re-read and try once more.
            if self._reader is not None:
                self._reader.reset()
            self._scanned = None
            rec2 = self._lookup(set_name, src)
            if rec2 is None or rec2.get("status") != "ok" or not rec2.get("file"):
                return None
            try:
                return read_rgb(self.root / rec2["file"])
            except FileNotFoundError:
                return None

    def _resolve(self, set_name: str, src: str, size: tuple[int, int] | None,
                 input_name: str) -> tuple[np.ndarray | None, str]:
        check_set_name(set_name)
        rec = self._lookup(set_name, src)
        if rec is None:
            return None, "missing"
        if size is not None and rec.get("h") is not None and (rec.get("h"), rec.get("w")) != tuple(size):
            if self._reader is not None:  # an aligned version may have been added since: look again
                self._reader.refresh()
                rec = self._valid_record(self._reader.get(set_name, src)) or rec
        if rec.get("status") != "ok" or not rec.get("file"):
            return None, f"the provider refused it ({rec.get('reason', 'no reason recorded')})"
        img = self._read_record(rec, set_name, src)
        if img is None:
            return None, "its image file is missing from the cache (run `gpt4o-prior verify`)"
        if size is not None and img.shape[:2] != tuple(size):
            raise ValueError(
                f"the prior in set {set_name!r} for input {input_name} is {img.shape[1]}x{img.shape[0]} (WxH) but "
                f"the input is {size[1]}x{size[0]}: it was stored without alignment. Run "
                f"`gpt4o-prior align --set {set_name} --cache {self.root}` (or store it with put(..., aligned=...)).")
        return img, ""

    @staticmethod
    def _check_fallback(fallback: str) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")

    @property
    def inputs_memo_path(self) -> Path:
        """``inputs.jsonl``: content hashes of input files seen by ``load_prior``, keyed by path and stat."""
        return self.root / "inputs.jsonl"

    def _load_inputs_memo(self) -> None:
        self._memo_loaded = True
        try:
            data = self.inputs_memo_path.read_bytes()
        except OSError:
            return
        for line in data.split(b"\n"):
            try:
                r = json.loads(line)
                self._memo[(r["p"], r["m"], r["s"], r["i"])] = (check_sha256(r["sha"], "sha"), int(r["h"]), int(r["w"]))
            except (ValueError, KeyError, TypeError):
                continue  # an empty or torn line: that input is simply hashed again

    def _remember_input(self, key: tuple, sha: str, h: int, w: int) -> None:
        line = json.dumps({"p": key[0], "m": key[1], "s": key[2], "i": key[3], "sha": sha, "h": h, "w": w},
                          ensure_ascii=False).encode("utf-8") + b"\n"
        try:  # one O_APPEND write per line; a lost or torn line only costs a re-hash
            fd = os.open(self.inputs_memo_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError:
            self.remember_inputs = False  # read-only cache: keep the memo in this process only

    def _input_info(self, path: str) -> tuple[str, int, int, bytes | None]:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"input image {path} does not exist") from None
        memo_key = (os.path.abspath(path), st.st_mtime_ns, st.st_size, st.st_ino)
        hit = self._memo.get(memo_key)
        if hit is None and self.remember_inputs and not self._memo_loaded:
            self._load_inputs_memo()
            hit = self._memo.get(memo_key)
        if hit is not None:
            return hit[0], hit[1], hit[2], None
        with open(path, "rb") as f:
            data = f.read()
        try:
            h, w = image_size(data)
        except Exception:
            raise ValueError(f"input {path} is not a readable image") from None
        sha = sha256_bytes(data)
        self._memo[memo_key] = (sha, h, w)
        if self.remember_inputs:
            self._remember_input(memo_key, sha, h, w)
        return sha, h, w, data

    def load_prior(self, set_name: str, input_path: str | os.PathLike, *, fallback: str = "error") -> np.ndarray | None:
        """The aligned prior of one input file, found by the file's content hash (renames and moves are fine).

        Per call: a stat, an in-memory index lookup and one PNG decode (the input is hashed once per process
        and file version).

        Args:
            set_name: the prior set.
            input_path: the degraded input image file.
            fallback: what to return when there is no usable prior: ``"error"`` raise ``PriorMissingError``
                naming the file, the set and the command that fills it; ``"skip"`` None; ``"input"`` the input
                image itself; ``"zeros"`` a black image.

        Returns:
            (H, W, 3) uint8 RGB with the input's H and W, or None (``fallback="skip"``).
        """
        self._check_fallback(fallback)
        path = os.fspath(input_path)
        src, h, w, data = self._input_info(path)
        img, reason = self._resolve(set_name, src, (h, w), path)
        if img is not None:
            return img
        if fallback == "input":
            return read_rgb(path) if data is None else decode_rgb(data)
        return self._fallback(fallback, set_name, src, path, reason, (h, w), None)

    def load_prior_by_hash(self, set_name: str, source_sha256: str, *, size: Sequence[int] | None = None,
                           fallback: str = "error", input_image: np.ndarray | None = None,
                           input_name: str | None = None) -> np.ndarray | None:
        """Like :meth:`load_prior` for an input already in memory, given its file's sha256.

        Args:
            set_name: the prior set.
            source_sha256: sha256 of the original input file bytes.
            size: the input's (H, W), checked against the prior (default: ``input_image``'s, if given).
            fallback: ``"error"``, ``"skip"``, ``"input"`` (needs ``input_image``) or ``"zeros"`` (needs ``size``
                or ``input_image``).
            input_image: the input, (H, W, 3) uint8, returned by ``fallback="input"``.
            input_name: how errors name the input (default: its hash).
        """
        self._check_fallback(fallback)
        check_sha256(source_sha256, "source_sha256")
        if input_image is not None:
            _check_image(input_image, "input_image")
            if size is None:
                size = input_image.shape[:2]
        if fallback == "input" and input_image is None:
            raise ValueError("fallback='input' needs input_image=")
        if fallback == "zeros" and size is None:
            raise ValueError("fallback='zeros' needs size=(H, W) or input_image=")
        size = None if size is None else (int(size[0]), int(size[1]))
        name = input_name or f"<input sha256 {source_sha256[:16]}...>"
        img, reason = self._resolve(set_name, source_sha256, size, name)
        if img is not None:
            return img
        return self._fallback(fallback, set_name, source_sha256, name, reason, size, input_image)

    def _fallback(self, fallback, set_name, src, name, reason, size, input_image):
        if fallback == "error":
            raise PriorMissingError(set_name, name, source_sha256=src, reason=reason, cache_root=str(self.root))
        if fallback == "skip":
            return None
        if fallback == "input":
            return input_image.copy()
        return np.zeros((size[0], size[1], 3), np.uint8)

    # ------------------------------------------------------------------ maintenance
    def rebuild_manifest(self) -> int:
        """Rewrite the manifest from the sidecars (atomically); returns the number of links indexed."""
        # Scan and write under the writers' lock: a link committed after the scan but appended before the write
        # would otherwise vanish with the old file. Its writer now waits and appends to the new one.
        with manifest_lock(self.manifest_path):
            records = self._all_records()
            write_manifest(self.manifest_path, records, durable=self.durable, locked=True)
        if self._reader is not None:
            self._reader.reset()
        self._scanned = None
        return len(records)

    def verify(self, *, quarantine: bool = False, tmp_grace_s: float = 60.0) -> VerifyReport:
        """Check every sidecar and file against its recorded hash; report corrupt, orphaned and unindexed items.

        Args:
            quarantine: move corrupt entries and orphans to ``quarantine/<time>/`` and rebuild the manifest.
            tmp_grace_s: temp files younger than this are writes in progress, not orphans.

        Returns:
            a :class:`VerifyReport`; ``report.ok`` is True when all is well.
        """
        report = VerifyReport()
        referenced: set[Path] = set()
        bad_entries: list[Path] = []
        links: set[tuple[str, str]] = set()
        objects = self.root / "objects"
        now = time.time()
        all_files: list[Path] = []
        if objects.is_dir():
            for dirpath, _, names in os.walk(objects):
                all_files.extend(Path(dirpath) / n for n in names)
        for path in sorted(p for p in all_files if p.suffix == ".json" and not p.name.startswith(".")):
            report.entries += 1
            referenced.add(path)
            key = path.stem
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(meta, dict) or meta.get("key") != key:
                    raise ValueError("its key field does not match its file name")
                check_key(key)
                if path.parent != self._shard(key):
                    raise ValueError(f"it lies outside its shard {self._rel(self._shard(key))}")
            except (ValueError, UnicodeDecodeError) as e:
                report.corrupt.append({"key": key, "file": self._rel(path), "problem": f"bad sidecar: {e}"})
                bad_entries.append(path)
                continue
            broken = False
            files = meta.get("files") or {}
            if meta.get("status", "ok") == "ok" and not any(i.get("role") == "raw" for i in files.values()):
                report.corrupt.append({"key": key, "file": self._rel(path), "problem": "no raw output recorded"})
                broken = True
            for fname, info in files.items():
                if not _safe_file(key, fname):
                    report.corrupt.append({"key": key, "file": str(fname), "problem": "file name outside the entry"})
                    broken = True
                    continue
                fpath = path.parent / fname
                referenced.add(fpath)
                report.files += 1
                if not fpath.exists():
                    problem = "missing"
                else:
                    problem = "" if sha256_file(fpath) == info.get("sha256") else "sha256 differs from the sidecar"
                if problem:
                    report.corrupt.append({"key": key, "file": self._rel(fpath), "problem": problem})
                    broken = True
            if broken:
                bad_entries.append(path)
            else:
                links.update((r["set"], r["src"]) for r in self._records(meta))
        for p in all_files:
            if p in referenced:
                continue
            if p.name.endswith(TMP_SUFFIX):
                try:
                    if now - p.stat().st_mtime < tmp_grace_s:
                        continue
                except FileNotFoundError:
                    continue
            report.orphans.append(self._rel(p))
        reader = ManifestReader(self.manifest_path)
        reader.refresh()
        report.manifest_bad_lines = reader.bad_lines
        indexed = {k for k, r in reader.index.items()}
        report.unindexed = sorted([list(k) for k in links - indexed])
        report.dangling = sorted([list(k) for k, r in reader.index.items()
                                  if k not in links and not self._link_exists(r)])
        claims = self.root / "claims"
        if claims.is_dir():
            from .claim import _read, claim_is_stale

            for c in claims.glob("*.claim"):
                info = _read(c)
                if info is not None and claim_is_stale(info, c, stale_after=self.stale_after):
                    report.stale_claims.append(self._rel(c))
        if quarantine and (bad_entries or report.orphans):
            dest = self.root / "quarantine" / _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            moving: list[Path] = []
            for sidecar in bad_entries:
                moving.append(sidecar)
                moving.extend(sorted(sidecar.parent.glob(f"{sidecar.stem}.*")))
            moving.extend(self.root / o for o in report.orphans)
            for p in dict.fromkeys(moving):
                if not p.exists():
                    continue
                target = dest / self._rel(p)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(p, target)
                report.quarantined.append(self._rel(p))
        if quarantine:
            self.rebuild_manifest()
        return report

    def _link_exists(self, rec: dict[str, Any]) -> bool:
        key = rec.get("key")
        if not isinstance(key, str):
            return False
        try:
            meta = self._read_sidecar(check_key(key))
        except ValueError:
            return False
        return meta is not None and any((r["set"], r["src"]) == (rec.get("set"), rec.get("src"))
                                        for r in self._records(meta))

    def stats(self, inputs: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
              set_name: str | None = None) -> dict[str, Any]:
        """Counts and cost, from the sidecars (the truth).

        Args:
            inputs: a folder of input images, or a list of image files: count those without a usable prior
                (needs ``set_name``).
            set_name: restrict the counts to one set.

        Returns:
            dict with ``entries``, ``refused``, ``by_set`` (set -> {ok, refused}), ``by_provider``, ``by_model``,
            ``by_label``, ``cost_usd`` (sum over entries whose cost is recorded), ``cost_unknown`` (entries
            without one), and with ``inputs``: ``inputs``, ``found``, ``missing`` (file list), ``refused_inputs``.
        """
        labels = {s.name: s.label for s in self.list_sets()}
        out: dict[str, Any] = {"root": str(self.root), "entries": 0, "refused": 0, "by_set": {}, "by_provider": {},
                               "by_model": {}, "by_label": {}, "cost_usd": 0.0, "cost_unknown": 0}
        for e in self.iter_entries():
            sets = {s.get("set_name") for s in e.meta.get("sources") or []}
            if set_name is not None and set_name not in sets:
                continue
            out["entries"] += 1
            out["refused"] += e.status != "ok"
            for name in sets:
                if set_name is not None and name != set_name:
                    continue
                d = out["by_set"].setdefault(name, {"ok": 0, "refused": 0})
                d["ok" if e.ok else "refused"] += 1
                lab = labels.get(name, "unregistered")
                out["by_label"][lab] = out["by_label"].get(lab, 0) + 1
            prov = str(e.meta.get("provider"))
            model = str(e.meta.get("model"))
            out["by_provider"][prov] = out["by_provider"].get(prov, 0) + 1
            out["by_model"][model] = out["by_model"].get(model, 0) + 1
            cost = e.meta.get("cost_usd")
            if isinstance(cost, (int, float)) and not isinstance(cost, bool):
                out["cost_usd"] += float(cost)
            else:
                out["cost_unknown"] += 1
        out["cost_usd"] = round(out["cost_usd"], 6)
        if inputs is not None:
            if set_name is None:
                raise ValueError("stats(inputs=...) needs set_name= to know which priors to look for")
            if isinstance(inputs, (str, os.PathLike)):
                folder = Path(inputs)
                if not folder.is_dir():
                    raise NotADirectoryError(f"stats: input folder {folder} does not exist")
                files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            else:
                files = [Path(p) for p in inputs]
            missing, refused = [], []
            for p in files:
                try:
                    src = self._input_info(str(p))[0]  # remembered hashes (inputs.jsonl) when there are any
                except ValueError:
                    src = sha256_file(p)
                rec = self._lookup(set_name, src)
                if rec is None:
                    missing.append(str(p))
                elif rec.get("status") != "ok":
                    refused.append(str(p))
            out.update({"inputs": len(files), "found": len(files) - len(missing) - len(refused),
                        "missing": missing, "refused_inputs": refused})
        return out

    def clear_stale_claims(self) -> list[str]:
        """Remove claims whose owner is gone or that are older than ``stale_after``; returns their paths."""
        removed = []
        for c in sorted((self.root / "claims").glob("*.claim")):
            claim = Claim(c.parent, c.stem, stale_after=self.stale_after)
            if claim.acquire():
                claim.release()
                if claim.took_over is not None:
                    removed.append(self._rel(c))
        return removed

