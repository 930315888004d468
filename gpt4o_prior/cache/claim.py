"""Claims: an exclusive lock file per request key, so that a paid request is made once.

A claim is a file ``claims/<key>.claim`` created with ``O_CREAT | O_EXCL`` (atomic on local file systems and
NFSv3+), holding the owner's pid, host and the time. A claim is *stale*, and may be taken over, when its owner is
on this host and no longer running, or when it is older than ``stale_after`` seconds (owners on other hosts, or
stuck ones). Taking over and releasing happen under a short ``fcntl`` lock so that two processes can never both
take over the same stale claim.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with Claim(folder, "a" * 64) as mine:
    ...     with Claim(folder, "a" * 64) as theirs:
    ...         (mine, theirs)
    (True, False)
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from .key import check_key
from .locks import file_lock

__all__ = ["Claim", "claim_is_stale", "read_claim", "busy_pause", "DEFAULT_STALE_AFTER"]

#: Seconds after which a claim from a live (or remote) owner counts as stale: longer than any single request.
DEFAULT_STALE_AFTER = 30 * 60.0

_HOST = socket.gethostname()


def busy_pause(waited: float, busy_timeout: float | None, poll_s: float) -> float | None:
    """How long to sleep before looking again at a key another process has claimed; None: stop waiting.

    The one waiting policy of the providers (``fill_cache`` and ``generate``): look every ``poll_s`` seconds,
    for as long as the claim is held when ``busy_timeout`` is None, else until ``busy_timeout`` seconds have
    passed (0: not at all).

    Example:
        >>> busy_pause(0.0, None, 0.5), busy_pause(9.8, 10.0, 0.5) < 0.21, busy_pause(10.0, 10.0, 0.5)
        (0.5, True, None)
    """
    if busy_timeout is None:
        return poll_s
    if waited >= busy_timeout:
        return None
    return max(0.0, min(poll_s, busy_timeout - waited))


def _mutex(folder: Path) -> contextlib.AbstractContextManager[None]:
    return file_lock(folder / ".claims.lock")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


def read_claim(path: Path) -> dict[str, Any] | None:
    """What a claim file says: its JSON dict, ``{}`` when unreadable or half-written (judged then by the file's
    age), ``None`` when there is no claim."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        info = json.loads(text)
        return info if isinstance(info, dict) else {}
    except ValueError:
        return {}  # half-written by a crashed owner: judged by the file's age


def claim_is_stale(info: dict[str, Any], path: Path, *, stale_after: float, now: float | None = None) -> bool:
    """Whether a claim whose file content is ``info`` may be taken over.

    Args:
        info: the parsed claim file (``{}`` when unreadable).
        path: the claim file (its modification time stands in for an unreadable ``time``).
        stale_after: maximum age in seconds.
        now: current time (tests).
    """
    now = time.time() if now is None else now
    if info.get("host") == _HOST and isinstance(info.get("pid"), int):
        if not _pid_alive(info["pid"]):
            return True
    started = info.get("time")
    if not isinstance(started, (int, float)):
        try:
            started = path.stat().st_mtime
        except FileNotFoundError:
            return True
    return now - float(started) > stale_after


class Claim:
    """An exclusive claim on one key; a context manager whose value says whether this process holds it.

    Args:
        folder: the claims folder.
        key: the request key.
        stale_after: seconds after which another owner's claim may be taken over.

    Example:
        >>> import tempfile
        >>> c = Claim(tempfile.mkdtemp(), "b" * 64)
        >>> c.acquire(), c.held, c.release(), c.held
        (True, True, None, False)
    """

    def __init__(self, folder: str | os.PathLike, key: str, *, stale_after: float = DEFAULT_STALE_AFTER):
        self.folder = Path(folder)
        self.key = check_key(key)
        self.path = self.folder / f"{key}.claim"
        self.stale_after = float(stale_after)
        self.token = uuid.uuid4().hex
        self.held = False
        self.took_over: dict[str, Any] | None = None

    def _create(self) -> bool:
        body = json.dumps({"pid": os.getpid(), "host": _HOST, "time": time.time(), "token": self.token,
                           "key": self.key}).encode("utf-8")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def acquire(self) -> bool:
        """Try once to take the claim; True if this process now holds it. Never blocks on a live owner."""
        if self.held:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._create():
            self.held = True
            return True
        info = read_claim(self.path)
        if info is None:  # released meanwhile
            self.held = self._create()
            return self.held
        if not claim_is_stale(info, self.path, stale_after=self.stale_after):
            return False
        with _mutex(self.folder):
            info = read_claim(self.path)  # look again under the lock: someone may have taken it over already
            if info is not None:
                if not claim_is_stale(info, self.path, stale_after=self.stale_after):
                    return False
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                self.took_over = info
            self.held = self._create()
        return self.held

    def release(self) -> None:
        """Give the claim back (only if this process still holds it: a taken-over claim is left alone)."""
        if not self.held:
            return
        self.held = False
        with _mutex(self.folder):
            info = read_claim(self.path)
            if info and info.get("token") == self.token:
                try:
                    os.unlink(self.path)
                except OSError as e:  # pragma: no cover - already gone
                    if e.errno != errno.ENOENT:
                        raise

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
