"""The manifest: an append-only JSONL index of (set, input hash) -> key, rebuilt from the sidecars at will.

It is an index, not the truth. Each line links one input (by content hash) in one prior set to a request key and
names the file a dataset should read. Appends take an ``fcntl`` lock and write one line with one ``write`` call;
:func:`write_manifest` replaces the whole file atomically under the same lock. Readers take no lock: they read
complete lines only, skip lines that do not parse (counting them), and read only the new tail on a refresh.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "manifest.jsonl"
    >>> append_records(p, [{"set": "s", "src": "0" * 64, "key": "1" * 64, "status": "ok", "file": "x.png"}])
    >>> r = ManifestReader(p); _ = r.refresh(); r.get("s", "0" * 64)["key"] == "1" * 64
    True
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable

from .atomic import atomic_write_bytes
from .locks import file_lock

__all__ = ["ManifestReader", "append_records", "write_manifest", "manifest_lock", "RECORD_FIELDS"]

#: Fields of a manifest line: set name, input content hash, request key, status, file to read (relative to the
#: cache root), its (height, width), input file name, provider, model, cost, and when the link was made ("at": of
#: two lines for one (set, input), the later one wins, so a re-imported prior replaces the old one).
RECORD_FIELDS = ("set", "src", "key", "status", "file", "h", "w", "name", "provider", "model", "cost_usd", "at")


def manifest_lock(path: Path) -> contextlib.AbstractContextManager[None]:
    """Exclusive lock for writers of ``path`` (a side file ``<path>.lock``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return file_lock(str(path) + ".lock")


def _lines(records: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
                    for r in records)


def append_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append records to the manifest (one ``write``, under the writers' lock, fsynced)."""
    data = _lines(records)
    if not data:
        return
    with manifest_lock(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # A crash mid-line leaves a fragment without "\n": start on a fresh line so only that fragment is lost.
            if os.fstat(fd).st_size > 0:
                with open(path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        data = b"\n" + data
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def write_manifest(path: Path, records: Iterable[dict[str, Any]], *, durable: bool = True,
                   locked: bool = False) -> None:
    """Replace the whole manifest atomically (used by ``rebuild``); ``locked``: the caller holds the lock."""
    data = _lines(records)
    if locked:
        atomic_write_bytes(path, data, durable=durable)
        return
    with manifest_lock(path):
        atomic_write_bytes(path, data, durable=durable)


class ManifestReader:
    """A process-local view of the manifest: ``(set, src) -> record``, refreshed incrementally.

    Attributes:
        bad_lines: lines that did not parse (a damaged manifest; the cache then also scans the sidecars).
        missing: True when the manifest file does not exist.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.index: dict[tuple[str, str], dict[str, Any]] = {}
        self.bad_lines = 0
        self.missing = False
        self._ino: int | None = None
        self._offset = 0
        self._lock = threading.Lock()  # one reader may serve several threads of a process

    def reset(self) -> None:
        self.index.clear()
        self.bad_lines = 0
        self._ino = None
        self._offset = 0

    def refresh(self) -> int:
        """Read what was appended since the last call (everything if the file was replaced). Returns lines read."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> int:
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            self.missing = True
            self.reset()
            return 0
        self.missing = False
        with f:
            st = os.fstat(f.fileno())
            if st.st_ino != self._ino or st.st_size < self._offset:
                self.reset()
                self._ino = st.st_ino
            if st.st_size == self._offset:
                return 0
            f.seek(self._offset)
            data = f.read(st.st_size - self._offset)
        end = data.rfind(b"\n")
        if end < 0:
            return 0  # only a partial line so far
        self._offset += end + 1
        n = 0
        for line in data[:end].split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key = (rec["set"], rec["src"])
            except (ValueError, KeyError, TypeError):
                self.bad_lines += 1
                continue
            self.index[key] = rec
            n += 1
        return n

    def get(self, set_name: str, src: str) -> dict[str, Any] | None:
        return self.index.get((set_name, src))
