"""Content hashes of input files, hashed once per file version and remembered across processes.

Priors are found by the content hash of their input. Hashing every input at every read would cost a full file
read; :class:`InputHashes` keeps ``(absolute path, mtime, size, inode) -> (sha256, height, width)`` in memory and,
unless told not to, appends each new one to ``inputs.jsonl`` in the cache (one ``O_APPEND`` write per line, so
DataLoader workers and other runs share it; a torn or lost line only costs a re-hash). A changed file has another
key and is hashed again.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from gpt4o_prior.data.io import write_png
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> img = write_png(d / "a.png", np.zeros((3, 5, 3), np.uint8))
    >>> memo = InputHashes(d / "inputs.jsonl")
    >>> sha, h, w, data = memo.info(str(img))
    >>> (h, w), data is not None, memo.info(str(img))[3] is None  # the second time: from the memo, no read
    ((3, 5), True, True)
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .image_io import image_size
from .key import check_sha256, sha256_bytes

__all__ = ["InputHashes"]


class InputHashes:
    """The memo of input content hashes (see the module docstring).

    Args:
        path: the memo file (``<cache>/inputs.jsonl``).
        remember: append new hashes to ``path`` (a read-only cache turns this off by itself, keeping the memo in
            this process).
    """

    def __init__(self, path: Path, *, remember: bool = True):
        self.path = Path(path)
        self.remember = bool(remember)
        self._memo: dict[tuple, tuple[str, int, int]] = {}
        self._loaded = False

    def _load(self) -> None:
        self._loaded = True
        try:
            data = self.path.read_bytes()
        except OSError:
            return
        for line in data.split(b"\n"):
            try:
                r = json.loads(line)
                self._memo[(r["p"], r["m"], r["s"], r["i"])] = (check_sha256(r["sha"], "sha"), int(r["h"]), int(r["w"]))
            except (ValueError, KeyError, TypeError):
                continue  # an empty or torn line: that input is simply hashed again

    def _append(self, key: tuple, sha: str, h: int, w: int) -> None:
        line = json.dumps({"p": key[0], "m": key[1], "s": key[2], "i": key[3], "sha": sha, "h": h, "w": w},
                          ensure_ascii=False).encode("utf-8") + b"\n"
        try:  # one O_APPEND write per line; a lost or torn line only costs a re-hash
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError:
            self.remember = False  # read-only cache: keep the memo in this process only

    def info(self, path: str) -> tuple[str, int, int, bytes | None]:
        """``(sha256, height, width, data)`` of the input file ``path``; ``data`` is the file's bytes when it was
        read now, None when the answer came from the memo.

        Raises:
            FileNotFoundError: the file does not exist (the message names it).
            ValueError: the file is not a readable image (its header gives no size).
        """
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"input image {path} does not exist") from None
        memo_key = (os.path.abspath(path), st.st_mtime_ns, st.st_size, st.st_ino)
        hit = self._memo.get(memo_key)
        if hit is None and self.remember and not self._loaded:
            self._load()
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
        if self.remember:
            self._append(memo_key, sha, h, w)
        return sha, h, w, data
