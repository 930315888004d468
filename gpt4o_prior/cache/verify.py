"""Check a prior cache against itself: every sidecar against its files, the manifest against the sidecars, and
what lies about (orphans, stale claims); optionally move what is broken to ``quarantine/<time>/``.

Example:
    >>> import tempfile
    >>> from gpt4o_prior.cache import PriorCache
    >>> verify_cache(PriorCache(tempfile.mkdtemp())).ok
    True
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .atomic import TMP_SUFFIX
from .image_io import decode_grey
from .key import check_key, sha256_bytes, sha256_file
from .manifest import ManifestReader
from .sidecar import confidence_token, manifest_records, safe_file

__all__ = ["VerifyReport", "verify_cache", "confidence_problems", "link_exists"]


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


def verify_cache(cache: Any, *, quarantine: bool = False, tmp_grace_s: float = 60.0) -> VerifyReport:
    """Check every sidecar and file of ``cache`` against its recorded hash; report corrupt, orphaned and
    unindexed items (what :meth:`PriorCache.verify <gpt4o_prior.cache.PriorCache.verify>` runs).

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
    objects = cache.root / "objects"
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
            if path.parent != cache.shard_dir(key):
                raise ValueError(f"it lies outside its shard {cache.relative(cache.shard_dir(key))}")
        except (ValueError, UnicodeDecodeError) as e:
            report.corrupt.append({"key": key, "file": cache.relative(path), "problem": f"bad sidecar: {e}"})
            bad_entries.append(path)
            continue
        broken = False
        files = meta.get("files") or {}
        if meta.get("status", "ok") == "ok" and not any(i.get("role") == "raw" for i in files.values()):
            report.corrupt.append({"key": key, "file": cache.relative(path), "problem": "no raw output recorded"})
            broken = True
        for fname, info in files.items():
            if not safe_file(key, fname):
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
                report.corrupt.append({"key": key, "file": cache.relative(fpath), "problem": problem})
                broken = True
        for fname, problem in confidence_problems(key, path.parent, files):
            report.corrupt.append({"key": key, "file": cache.relative(path.parent / fname), "problem": problem})
            broken = True
        if broken:
            bad_entries.append(path)
        else:
            links.update((r["set"], r["src"]) for r in manifest_records(meta))
    for p in all_files:
        if p in referenced:
            continue
        if p.name.endswith(TMP_SUFFIX):
            try:
                if now - p.stat().st_mtime < tmp_grace_s:
                    continue
            except FileNotFoundError:
                continue
        report.orphans.append(cache.relative(p))
    reader = ManifestReader(cache.manifest_path)
    reader.refresh()
    report.manifest_bad_lines = reader.bad_lines
    indexed = {k for k, r in reader.index.items()}
    report.unindexed = sorted([list(k) for k in links - indexed])
    report.dangling = sorted([list(k) for k, r in reader.index.items()
                              if k not in links and not link_exists(cache, r)])
    claims = cache.root / "claims"
    if claims.is_dir():
        from .claim import claim_is_stale, read_claim

        for c in claims.glob("*.claim"):
            info = read_claim(c)
            if info is not None and claim_is_stale(info, c, stale_after=cache.stale_after):
                report.stale_claims.append(cache.relative(c))
    if quarantine and (bad_entries or report.orphans):
        dest = cache.root / "quarantine" / _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        moving: list[Path] = []
        for sidecar in bad_entries:
            moving.append(sidecar)
            moving.extend(sorted(sidecar.parent.glob(f"{sidecar.stem}.*")))
        moving.extend(cache.root / o for o in report.orphans)
        for p in dict.fromkeys(moving):
            if not p.exists():
                continue
            target = dest / cache.relative(p)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
            report.quarantined.append(cache.relative(p))
    if quarantine:
        cache.rebuild_manifest()
    return report

def confidence_problems(key: str, shard: Path, files: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with the confidence files of one sidecar (beyond their hashes, checked with every file):
    each is tied to an aligned file that names it back, readable, of its aligned file's size."""
    out = []
    for fname, info in files.items():
        if not safe_file(key, fname):
            continue
        role = info.get("role")
        if role == "aligned" and info.get("confidence") is not None:
            cname = info["confidence"]
            if files.get(cname, {}).get("role") != "confidence":
                out.append((fname, f"its confidence file {cname} is not recorded in the sidecar"))
        if role != "confidence":
            continue
        aname = info.get("aligned")
        ainfo = files.get(aname) if isinstance(aname, str) else None
        if not ainfo or ainfo.get("role") != "aligned" or ainfo.get("confidence") != fname:
            out.append((fname, f"confidence file of no aligned file (its sidecar names {aname!r})"))
            continue
        try:
            cdata = (shard / fname).read_bytes()
            adata = (shard / aname).read_bytes()
        except OSError:
            continue  # missing: reported with the hashes
        if sha256_bytes(cdata) != info.get("sha256"):
            continue  # reported with the hashes
        try:
            grey = decode_grey(cdata, fname)
        except ValueError:
            out.append((fname, "confidence file is not a readable grey PNG"))
            continue
        size = (ainfo.get("height"), ainfo.get("width"))
        if grey.shape != size:
            out.append((fname, f"confidence is {grey.shape[1]}x{grey.shape[0]} but its aligned file {aname} "
                               f"is {size[1]}x{size[0]}"))
        token = confidence_token(aname, adata)
        if token is None or token.get("sha256") != info.get("sha256"):
            out.append((fname, f"its aligned file {aname} does not name this confidence file (another version's)"))
    return out

def link_exists(cache: Any, rec: dict[str, Any]) -> bool:
    """A manifest record whose sidecar still links its set and input."""
    key = rec.get("key")
    if not isinstance(key, str):
        return False
    try:
        meta = cache.read_sidecar(check_key(key))
    except ValueError:
        return False
    return meta is not None and any((r["set"], r["src"]) == (rec.get("set"), rec.get("src"))
                                    for r in manifest_records(meta))
