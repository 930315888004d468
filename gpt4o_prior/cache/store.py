"""The prior cache: a content-addressed, crash-safe, multi-process store of priors and their provenance.

Layout under the cache root::

    cache.json                      layout marker (schema version)
    sets/<name>.json                registered prior sets
    objects/ab/cd/<key>.json        sidecar: provenance, hashes, sizes, sources, alignment record (the truth)
    objects/ab/cd/<key>.png         the output exactly as returned (.jpg / .webp if it came back so)
    objects/ab/cd/<key>.aligned.png the prior aligned to its input's geometry
    objects/ab/cd/<key>.confidence.png   its per-pixel confidence (8-bit grey, value / 255), where one was made
    manifest.jsonl                  index (set, input hash) -> file; rebuilt from the sidecars at will
    inputs.jsonl                    memo: input file (path, size, mtime, inode) -> content hash
    claims/<key>.claim              exclusive claims of in-flight paid requests
    quarantine/<time>/...           what ``verify(quarantine=True)`` moved away

Every file is written atomically; the sidecar is written last and is the commit point of an entry. A stored file
is never rewritten in place while a sidecar names it: a new version of an aligned prior (and its confidence) gets a
new name, and the old pair is deleted after the commit.

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
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..data.io import IMAGE_SUFFIXES, as_rgb_uint8
from ..dense_align import confidence_from_uint8, confidence_to_uint8
from ..fallbacks import FALLBACKS
from .atomic import TMP_SUFFIX, atomic_write_bytes, atomic_write_json
from .claim import DEFAULT_STALE_AFTER, Claim
from .entry import CacheEntry
from .errors import PriorMissingError, UnknownSetError
from .image_io import (EXTENSIONS, decode_grey, decode_rgb, encode_grey_png, encode_png, image_size, png_add_text,
                       read_rgb, sniff_format)
from .key import check_key, check_sha256, sha256_bytes, sha256_file
from .locks import file_lock
from .manifest import ManifestReader, append_records, manifest_lock, write_manifest
from .missing import set_fill_command
from .inputs import InputHashes
from .prior_set import PriorSet, check_set_name
from .sidecar import (ALIGNED_SUFFIX, CONF_KEYWORD, CONFIDENCE_FORMAT, RESERVED, check_confidence_map, confidence_name,
                      confidence_token, dense_version, manifest_records, now_iso, safe_file, scrub_meta)
from .stats import cache_stats
from .verify import VerifyReport, verify_cache

__all__ = ["PriorCache", "VerifyReport", "FALLBACKS", "CACHE_SCHEMA_VERSION", "CONFIDENCE_FORMAT", "IMAGE_SUFFIXES"]

#: Version of the on-disk layout and sidecar format. Confidence files are an addition readers of this version
#: understand without a new schema: an aligned prior without one reads as confidence 1 everywhere.
CACHE_SCHEMA_VERSION = 1
#: Pauses (s) of a reader that found an aligned prior and a confidence that do not belong together (a re-alignment
#: being committed, or a damaged entry) before it looks again.
_PAIR_RETRIES = (0.01, 0.03, 0.1, 0.3)

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
        self._inputs = InputHashes(self.inputs_memo_path, remember=self.remember_inputs)

    def __getstate__(self):
        return {"root": self.root, "stale_after": self.stale_after, "durable": self.durable,
                "remember_inputs": self.remember_inputs}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_process_state()

    @property
    def inputs_memo_path(self) -> Path:
        """``inputs.jsonl``: content hashes of input files seen by ``load_prior``, keyed by path and stat."""
        return self.root / "inputs.jsonl"

    def __repr__(self) -> str:
        return f"PriorCache({str(self.root)!r})"

    # ------------------------------------------------------------------ paths
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.jsonl"

    def shard_dir(self, key: str) -> Path:
        """The folder of ``key``'s files: ``objects/<key[:2]>/<key[2:4]>``."""
        return self.root / "objects" / key[:2] / key[2:4]

    def sidecar_path(self, key: str) -> Path:
        """Where the sidecar of ``key`` lives."""
        check_key(key)
        return self.shard_dir(key) / f"{key}.json"

    def _set_path(self, name: str) -> Path:
        return self.root / "sets" / f"{check_set_name(name)}.json"

    def relative(self, path: Path) -> str:
        """``path`` relative to the cache root, with ``/`` (how reports and the manifest name files)."""
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
    def read_sidecar(self, key: str) -> dict[str, Any] | None:
        """The sidecar of ``key`` as a dict; None when there is none or it is damaged (``verify`` reports that)."""
        try:
            meta = json.loads(self.sidecar_path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            return None  # damaged: verify() reports it; a new put() replaces it
        return meta if isinstance(meta, dict) and meta.get("key") == key else None

    def _entry(self, meta: dict[str, Any], source_sha256: str | None = None,
               set_name: str | None = None) -> CacheEntry:
        key = meta["key"]
        shard = self.shard_dir(key)
        files = {f: info for f, info in (meta.get("files") or {}).items() if safe_file(key, f)}
        raw = next((shard / f for f, info in files.items() if info.get("role") == "raw"), None)
        sources = meta.get("sources") or []
        aligned = None
        chosen = None
        if source_sha256 is not None:
            mine = [s for s in sources if s.get("source_sha256") == source_sha256]
            chosen = next((s for s in mine if s.get("set_name") == set_name), mine[0] if mine else None)
        elif sources:
            chosen = sources[0]
        if chosen is not None and chosen.get("file") and files.get(chosen["file"], {}).get("role") == "aligned":
            aligned = shard / chosen["file"]
        elif chosen is None:
            aligned = next((shard / f for f, info in files.items() if info.get("role") == "aligned"), None)
        conf = None
        if aligned is not None:
            cname = files.get(aligned.name, {}).get("confidence")
            if cname in files and files[cname].get("role") == "confidence":
                conf = shard / cname
        return CacheEntry(key=key, meta=meta, status=meta.get("status", "ok"), raw_path=raw, aligned_path=aligned,
                          source_sha256=source_sha256, confidence_path=conf)

    def entry(self, key: str) -> CacheEntry | None:
        """The entry stored under ``key``, or None (also None for a damaged sidecar, which ``verify`` reports)."""
        meta = self.read_sidecar(check_key(key))
        return None if meta is None else self._entry(meta)

    def iter_entries(self) -> Iterator[CacheEntry]:
        """Every readable entry (sidecar scan; order unspecified)."""
        for path in self._sidecar_files():
            meta = self.read_sidecar(path.stem)
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
        clash = sorted(set(meta) & set(RESERVED))
        if clash:
            raise ValueError(f"meta field(s) {clash} are written by the cache itself; rename them")
        redacted: list[str] = []
        clean = scrub_meta(meta, "meta", redacted)
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
                "linked_at": now_iso()}

    def _write_file(self, shard: Path, name: str, data: bytes) -> None:
        atomic_write_bytes(shard / name, data, durable=self.durable)

    def _pick_name(self, meta: dict, key: str, owners: set, src: str | None, set_name: str | None,
                   digest: str) -> str:
        """A name for a new aligned file of the links ``owners`` that never rewrites a file a sidecar names.

        Candidates, in order: ``<key>``, ``<key>.<input16>``, ``<key>.<input16>.<set8>`` (+ ``.aligned.png``). A
        candidate used by another link is skipped; one used only by ``owners`` (their previous version) gets the
        new version beside it, as ``<base>.<digest8>.aligned.png``; the old one is deleted after the commit.
        """
        files = meta.get("files") or {}
        sources = meta.get("sources") or []
        bases = [key]
        if src:
            bases.append(f"{key}.{src[:16]}")
            if set_name:
                bases.append(f"{key}.{src[:16]}.{sha256_bytes(set_name.encode('utf-8'))[:8]}")
        for base in bases:
            name = base + ALIGNED_SUFFIX
            if name not in files:
                return name
            users = {(s.get("set_name"), s.get("source_sha256")) for s in sources if s.get("file") == name}
            if users <= owners:
                alt = f"{base}.{digest[:8]}{ALIGNED_SUFFIX}"
                if alt not in files:
                    return alt
        return f"{key}.{digest[:16]}.{uuid.uuid4().hex[:8]}{ALIGNED_SUFFIX}"

    def _store_pair(self, meta: dict, shard: Path, key: str, *, owners: set, src: str | None,
                    set_name: str | None, aligned: np.ndarray, confidence: np.ndarray | None,
                    dense_version: Any) -> str:
        """Write an aligned prior and its confidence (if any) for the links ``owners``; return the aligned file name.

        The confidence file is written first, then the aligned file, which names the confidence's sha256 in a PNG
        text chunk (readers check the pair with it); the caller commits the sidecar. Identical pairs already stored
        are reused.
        """
        plain = encode_png(as_rgb_uint8(aligned, "aligned"))
        conf_data = None
        if confidence is not None:
            levels = confidence_to_uint8(confidence)
            conf_data = encode_grey_png(levels)
            token = json.dumps({"format": CONFIDENCE_FORMAT, "sha256": sha256_bytes(conf_data)}, sort_keys=True,
                               separators=(",", ":"))
            data = png_add_text(plain, CONF_KEYWORD, token)
        else:
            data = plain
        digest = sha256_bytes(data)
        files = meta.setdefault("files", {})
        for fname, info in files.items():
            if info.get("role") == "aligned" and info.get("sha256") == digest and \
                    (conf_data is None or info.get("confidence") in files):
                return fname
        fname = self._pick_name(meta, key, owners, src, set_name, digest)
        h, w = int(aligned.shape[0]), int(aligned.shape[1])
        info: dict[str, Any] = {"role": "aligned", "sha256": digest, "bytes": len(data), "height": h, "width": w}
        if conf_data is not None:
            cname = confidence_name(fname)
            self._write_file(shard, cname, conf_data)
            files[cname] = {"role": "confidence", "aligned": fname, "format": CONFIDENCE_FORMAT,
                            "sha256": sha256_bytes(conf_data), "bytes": len(conf_data), "height": h, "width": w,
                            "dense_version": dense_version, "mean": round(float(levels.mean()) / 255.0, 4)}
            info["confidence"] = cname
        self._write_file(shard, fname, data)
        files[fname] = info
        return fname

    def _drop_unused(self, meta: dict, previous: Iterable[str | None], keep: str | None) -> list[str]:
        """Remove from ``meta`` the aligned files in ``previous`` that no link uses any more (and their confidence
        files), except ``keep`` (the file just stored); return the names to delete once the sidecar is committed."""
        files = meta.get("files") or {}
        used = {s.get("file") for s in meta.get("sources") or []} | {keep}
        gone = []
        for fname in dict.fromkeys(f for f in previous if f):
            if fname in used or files.get(fname, {}).get("role") != "aligned":
                continue
            cname = files.pop(fname).get("confidence")
            gone.append(fname)
            if cname and files.get(cname, {}).get("role") == "confidence":
                files.pop(cname)
                gone.append(cname)
        return gone

    def _delete_files(self, key: str, names: Iterable[str]) -> None:
        """Delete files a committed sidecar no longer names (readers that still look for them look again)."""
        shard = self.shard_dir(key)
        for name in names:
            if safe_file(key, name):
                try:
                    (shard / name).unlink()
                except OSError:
                    pass  # left behind: verify reports it as an orphan

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

    def _commit(self, meta: dict, link: dict | None = None, *, all_links: bool = False) -> CacheEntry:
        """Write the sidecar (the commit point), then index the link that changed (or every link)."""
        atomic_write_json(self.sidecar_path(meta["key"]), meta, durable=self.durable)
        records = manifest_records(meta)
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
            confidence: np.ndarray | None = None, set_name: str | None = None, source_sha256: str | None = None,
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
            confidence: the aligned prior's per-pixel confidence, (H, W) float32 in [0, 1] (from
                ``gpt4o_prior.align.align_with_confidence``), stored beside it as an 8-bit grey PNG; None: none
                (the prior then reads as confidence 1 everywhere). Needs ``aligned``.
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
            as_rgb_uint8(aligned, "aligned")
        if confidence is not None:
            if aligned is None:
                raise ValueError(f"put: a confidence for key {key} is stored beside an aligned prior; pass aligned= "
                                 "as well")
            confidence = check_confidence_map(confidence, aligned.shape[:2], key)
        shard = self.shard_dir(key)
        with self._key_lock(key):
            current = self.read_sidecar(key)
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
                       "sources": [], "stored_at": now_iso()}
                if redacted:
                    new["redacted"] = redacted
                if current is not None:  # a refusal being replaced: keep its links, drop its reason
                    new["sources"] = [{k: v for k, v in s.items() if k != "file"} for s in current.get("sources", [])]
                    new["previous_refusal"] = {k: current.get(k) for k in ("reason", "code", "stored_at")}
                current = new
            fname, previous = None, []
            if aligned is not None:
                owners = set() if link is None else {(link["set_name"], link["source_sha256"])}
                previous = [s.get("file") for s in current.get("sources") or []
                            if (s.get("set_name"), s.get("source_sha256")) in owners]
                fname = self._store_pair(current, shard, key, owners=owners, src=source_sha256, set_name=set_name,
                                         aligned=aligned, confidence=confidence,
                                         dense_version=dense_version(user_meta.get("alignment")))
            self._merge_link(current, link, fname, user_meta.get("alignment") if link else None)
            gone = self._drop_unused(current, previous, fname)
            entry = self._commit(current, link, all_links=created or fname == f"{key}.aligned.png")
            self._delete_files(key, gone)
        return self._entry(current, source_sha256, set_name) if source_sha256 else entry

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
            current = self.read_sidecar(key)
            if current is None:
                current = {**user_meta, "schema": CACHE_SCHEMA_VERSION, "key": key, "status": "refused",
                           "files": {}, "sources": [], "stored_at": now_iso()}
                if redacted:
                    current["redacted"] = redacted
            self._merge_link(current, link, None, None)
            entry = self._commit(current, link)
        return self._entry(current, source_sha256, set_name) if source_sha256 else entry

    def put_aligned(self, key: str, aligned: np.ndarray, *, alignment: Mapping[str, Any] | None = None,
                    confidence: np.ndarray | None = None, set_name: str | None = None,
                    source_sha256: str | None = None) -> CacheEntry:
        """Store (or replace) the aligned prior of an existing entry and its confidence, e.g. after re-running
        alignment (``gpt4o-prior align``).

        The aligned prior and its confidence are replaced together: the new pair is written under new names and
        committed with the sidecar, then the old pair is deleted. Without ``confidence`` the old confidence goes
        with the old aligned prior (the new one reads as confidence 1 everywhere); a reader never gets an aligned
        prior with another version's confidence.

        Args:
            key: an entry holding a result.
            aligned: (H, W, 3) uint8 RGB in the input's geometry.
            alignment: the record returned by ``align_prior`` / ``align_with_confidence`` (stored in the sidecar;
                its ``dense.version`` is recorded with the confidence).
            confidence: (H, W) float32 in [0, 1], or None.
            set_name, source_sha256: which link it is for (default: every link of the entry).

        Returns:
            the entry (as seen from the link, when one is named).

        Example:
            >>> import tempfile
            >>> from gpt4o_prior.cache import PriorCache, sha256_bytes
            >>> cache = PriorCache(tempfile.mkdtemp())
            >>> img = np.full((4, 6, 3), 9, np.uint8)
            >>> _ = cache.put("ab" * 32, encode_png(img), meta={}, set_name="s", source_sha256=sha256_bytes(b"x"))
            >>> e = cache.put_aligned("ab" * 32, img, confidence=np.full((4, 6), 0.5, np.float32))
            >>> e.confidence_path.name.endswith(".confidence.png"), round(float(e.load_confidence().mean()), 2)
            (True, 0.5)
        """
        key = check_key(key)
        as_rgb_uint8(aligned, "aligned")
        if confidence is not None:
            confidence = check_confidence_map(confidence, aligned.shape[:2], key)
        with self._key_lock(key):
            current = self.read_sidecar(key)
            if current is None or current.get("status") != "ok":
                raise KeyError(f"put_aligned: no stored result under key {key} in cache {self.root}")
            shard = self.shard_dir(key)
            sources = current.get("sources") or []
            targets = [s for s in sources if (source_sha256 is None or s.get("source_sha256") == source_sha256)
                       and (set_name is None or s.get("set_name") == set_name)]
            if sources and not targets:
                raise KeyError(f"put_aligned: entry {key} has no link for set {set_name!r} / input {source_sha256}")
            primary = not sources or (targets and targets[0] is sources[0])
            owners = {(s.get("set_name"), s.get("source_sha256")) for s in targets}
            previous = [s.get("file") for s in targets]
            if not sources:  # an entry without links: its aligned files belong to no one else
                previous = [f for f, i in (current.get("files") or {}).items() if i.get("role") == "aligned"]
            clean = scrub_meta(dict(alignment), "alignment", []) if alignment is not None else None
            fname = self._store_pair(current, shard, key, owners=owners,
                                     src=targets[0].get("source_sha256") if targets else None,
                                     set_name=targets[0].get("set_name") if targets else None, aligned=aligned,
                                     confidence=confidence, dense_version=dense_version(clean))
            for s in targets:
                s["file"] = fname
                if clean is not None:
                    s["alignment"] = clean
            if clean is not None and primary:
                current["alignment"] = clean
            gone = self._drop_unused(current, previous, fname)
            entry = self._commit(current, all_links=True)
            self._delete_files(key, gone)
        if targets and (set_name is not None or source_sha256 is not None):  # as seen from the link it is for
            return self._entry(current, targets[0].get("source_sha256"), targets[0].get("set_name"))
        return entry

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
        meta = self.read_sidecar(path.stem)
        return [] if meta is None else manifest_records(meta)

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
            if not (isinstance(f, str) and f.startswith(prefix) and safe_file(key, f[len(prefix):])):
                return None
        return rec

    def record_for(self, set_name: str, src: str, *, heal: bool = True) -> dict[str, Any] | None:
        """The manifest record of input hash ``src`` in ``set_name``, or None. The manifest is refreshed on a miss
        or a refusal, and (``heal``) the sidecars are scanned once per process when the manifest lags them."""
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

    def input_sha256(self, path: str | os.PathLike) -> str:
        """The content sha256 of an input file, hashed once per file version (remembered in ``inputs.jsonl`` unless
        ``remember_inputs=False``), as lookups by input file find it.

        A file whose image header cannot be read still has a hash (of its bytes; nothing is remembered then).
        """
        try:
            return self._inputs.info(os.fspath(path))[0]
        except ValueError:
            return sha256_file(path)

    def find(self, set_name: str, source_sha256: str) -> CacheEntry | None:
        """The entry linked to the input whose ORIGINAL file bytes hash to ``source_sha256`` in ``set_name``."""
        check_set_name(set_name)
        check_sha256(source_sha256, "source_sha256")
        rec = self.record_for(set_name, source_sha256)
        if rec is None:
            return None
        meta = self.read_sidecar(rec["key"])
        if meta is None:
            return None
        return self._entry(meta, source_sha256, set_name)

    def _read_record(self, rec: dict[str, Any], set_name: str, src: str) -> np.ndarray | None:
        try:
            return read_rgb(self.root / rec["file"])
        except FileNotFoundError:
            # Quarantined or replaced since this process read the manifest: re-read and try once more.
            if self._reader is not None:
                self._reader.reset()
            self._scanned = None
            rec2 = self.record_for(set_name, src)
            if rec2 is None or rec2.get("status") != "ok" or not rec2.get("file"):
                return None
            try:
                return read_rgb(self.root / rec2["file"])
            except FileNotFoundError:
                return None

    def _read_pair(self, rec: dict[str, Any], set_name: str,
                   src: str) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """The prior of ``rec`` and its confidence, checked to belong together; ``(None, None, reason)`` if not.

        An aligned file that names no confidence (made before confidence maps, or without the dense step) reads as
        confidence 1 everywhere. An aligned file whose confidence is missing or is another version's (a
        re-alignment committing right now) makes the reader look again a few times before it gives up.
        """
        for pause in (0.0, *_PAIR_RETRIES):
            if pause:
                time.sleep(pause)
                if self._reader is not None:
                    self._reader.refresh()  # a re-alignment appends its new record
                if self._reader is None or self._valid_record(self._reader.get(set_name, src)) is None:
                    self._scanned = None  # the record came from a sidecar scan: scan again
                rec = self.record_for(set_name, src)
                if rec is None or rec.get("status") != "ok" or not rec.get("file"):
                    return None, None, "its image file is missing from the cache (run `gpt4o-prior verify`)"
            path = self.root / rec["file"]
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            img = decode_rgb(data, f"prior {path}")
            token = confidence_token(path.name, data)
            if token is None:
                return img, np.ones(img.shape[:2], np.float32), ""
            cpath = path.with_name(confidence_name(path.name))
            try:
                cdata = cpath.read_bytes()
            except FileNotFoundError:
                continue
            if sha256_bytes(cdata) != token["sha256"]:
                continue
            conf = confidence_from_uint8(decode_grey(cdata, f"confidence {cpath}"))
            if conf.shape != img.shape[:2]:
                return None, None, (f"its confidence file {cpath} is {conf.shape[1]}x{conf.shape[0]} but the prior is "
                                    f"{img.shape[1]}x{img.shape[0]} (run `gpt4o-prior verify`)")
            return img, conf, ""
        return None, None, (f"its aligned prior {rec.get('file')} and its confidence file do not belong together or "
                            "one is missing (run `gpt4o-prior verify`, then `gpt4o-prior align --force`)")

    def _resolve(self, set_name: str, src: str, size: tuple[int, int] | None, input_name: str, *,
                 with_confidence: bool = False) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        check_set_name(set_name)
        rec = self.record_for(set_name, src)
        if rec is None:
            return None, None, "missing"
        if size is not None and rec.get("h") is not None and (rec.get("h"), rec.get("w")) != tuple(size):
            if self._reader is not None:  # an aligned version may have been added since: look again
                self._reader.refresh()
                rec = self._valid_record(self._reader.get(set_name, src)) or rec
        if rec.get("status") != "ok" or not rec.get("file"):
            return None, None, f"the provider refused it ({rec.get('reason', 'no reason recorded')})"
        conf = None
        if with_confidence:
            img, conf, reason = self._read_pair(rec, set_name, src)
            if img is None:
                return None, None, reason
        else:
            img = self._read_record(rec, set_name, src)
        if img is None:
            return None, None, "its image file is missing from the cache (run `gpt4o-prior verify`)"
        if size is not None and img.shape[:2] != tuple(size):
            raise ValueError(
                f"the prior in set {set_name!r} for input {input_name} is {img.shape[1]}x{img.shape[0]} (WxH) but "
                f"the input is {size[1]}x{size[0]}: it was stored without alignment. Run "
                f"`gpt4o-prior align --set {set_name} --cache {self.root}` (or store it with put(..., aligned=...)).")
        return img, conf, ""

    @staticmethod
    def _check_fallback(fallback: str) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")

    def load_prior(self, set_name: str, input_path: str | os.PathLike, *, fallback: str = "error",
                   with_confidence: bool = False) -> Any:
        """The aligned prior of one input file, found by the file's content hash (renames and moves are fine).

        Per call: a stat, an in-memory index lookup and one PNG decode (the input is hashed once per process
        and file version); ``with_confidence`` adds the decode of the small grey confidence PNG.

        Args:
            set_name: the prior set.
            input_path: the degraded input image file.
            fallback: what to return when there is no usable prior: ``"error"`` raise ``PriorMissingError``
                naming the file, the set and the command that fills it; ``"skip"`` None; ``"input"`` the input
                image itself; ``"zeros"`` a black image.
            with_confidence: also return the prior's per-pixel confidence.

        Returns:
            (H, W, 3) uint8 RGB with the input's H and W, or None (``fallback="skip"``). With
            ``with_confidence=True``: ``(prior, confidence)``, the confidence (H, W) float32 in [0, 1] of the
            prior's size; ones where the prior was stored without one; zeros with the ``"input"`` and ``"zeros"``
            fallbacks (a stand-in carries nothing from the generative model, so fusion keeps the host's features);
            ``(None, None)`` with ``"skip"``.

        Example:
            >>> import tempfile, pathlib
            >>> from gpt4o_prior.cache import PriorCache
            >>> root = pathlib.Path(tempfile.mkdtemp())
            >>> _ = (root / "in.png").write_bytes(encode_png(np.zeros((4, 6, 3), np.uint8)))
            >>> prior, conf = PriorCache(root / "c").load_prior("s", root / "in.png", fallback="input",
            ...                                                 with_confidence=True)
            >>> prior.shape, conf.shape, float(conf.max())
            ((4, 6, 3), (4, 6), 0.0)
        """
        self._check_fallback(fallback)
        path = os.fspath(input_path)
        src, h, w, data = self._inputs.info(path)
        img, conf, reason = self._resolve(set_name, src, (h, w), path, with_confidence=with_confidence)
        if img is not None:
            return (img, conf) if with_confidence else img
        if fallback == "input":
            img = read_rgb(path) if data is None else decode_rgb(data)
            return (img, np.zeros(img.shape[:2], np.float32)) if with_confidence else img
        return self._fallback(fallback, set_name, src, path, reason, (h, w), None, with_confidence)

    def load_prior_by_hash(self, set_name: str, source_sha256: str, *, size: Sequence[int] | None = None,
                           fallback: str = "error", input_image: np.ndarray | None = None,
                           input_name: str | None = None, with_confidence: bool = False) -> Any:
        """Like :meth:`load_prior` for an input already in memory, given its file's sha256.

        Args:
            set_name: the prior set.
            source_sha256: sha256 of the original input file bytes.
            size: the input's (H, W), checked against the prior (default: ``input_image``'s, if given).
            fallback: ``"error"``, ``"skip"``, ``"input"`` (needs ``input_image``) or ``"zeros"`` (needs ``size``
                or ``input_image``).
            input_image: the input, (H, W, 3) uint8, returned by ``fallback="input"``.
            input_name: how errors name the input (default: its hash).
            with_confidence: also return the confidence, as :meth:`load_prior` does.

        Returns:
            the prior (or None), or ``(prior, confidence)`` with ``with_confidence=True``.
        """
        self._check_fallback(fallback)
        check_sha256(source_sha256, "source_sha256")
        if input_image is not None:
            as_rgb_uint8(input_image, "input_image")
            if size is None:
                size = input_image.shape[:2]
        if fallback == "input" and input_image is None:
            raise ValueError("fallback='input' needs input_image=")
        if fallback == "zeros" and size is None:
            raise ValueError("fallback='zeros' needs size=(H, W) or input_image=")
        size = None if size is None else (int(size[0]), int(size[1]))
        name = input_name or f"<input sha256 {source_sha256[:16]}...>"
        img, conf, reason = self._resolve(set_name, source_sha256, size, name, with_confidence=with_confidence)
        if img is not None:
            return (img, conf) if with_confidence else img
        return self._fallback(fallback, set_name, source_sha256, name, reason, size, input_image, with_confidence)

    def _fallback(self, fallback, set_name, src, name, reason, size, input_image, with_confidence=False):
        if fallback == "error":
            folder = Path(name).parent if not str(name).startswith("<") else "<input folder>"
            raise PriorMissingError(set_name, name, source_sha256=src, reason=reason, cache_root=str(self.root),
                                    command=set_fill_command(self, set_name, folder))
        if fallback == "skip":
            return (None, None) if with_confidence else None
        if fallback == "input":
            img = input_image.copy()
        else:
            img = np.zeros((size[0], size[1], 3), np.uint8)
        # a stand-in carries nothing from the generative model: zero confidence, fusion keeps the host's features
        return (img, np.zeros(img.shape[:2], np.float32)) if with_confidence else img

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
            a :class:`~gpt4o_prior.cache.verify.VerifyReport`; ``report.ok`` is True when all is well.
        """
        return verify_cache(self, quarantine=quarantine, tmp_grace_s=tmp_grace_s)

    def stats(self, inputs: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
              set_name: str | None = None) -> dict[str, Any]:
        """Counts and cost, from the sidecars (the truth); see :func:`gpt4o_prior.cache.stats.cache_stats` for the
        keys. ``inputs`` (a folder, or a list of image files) with ``set_name`` adds the coverage of those inputs.
        """
        return cache_stats(self, inputs=inputs, set_name=set_name)

    def clear_stale_claims(self) -> list[str]:
        """Remove claims whose owner is gone or that are older than ``stale_after``; returns their paths."""
        removed = []
        for c in sorted((self.root / "claims").glob("*.claim")):
            claim = Claim(c.parent, c.stem, stale_after=self.stale_after)
            if claim.acquire():
                claim.release()
                if claim.took_over is not None:
                    removed.append(self.relative(c))
        return removed

