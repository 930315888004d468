"""An exclusive ``fcntl`` lock on a lock file, for the cache's writers (claims, manifest, per-key writes)."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

__all__ = ["file_lock"]


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``path`` (created if missing; its folder must exist) while inside.

    Other processes (and other open descriptors in this one) taking the same lock wait until it is released.

    Args:
        path: the lock file; its content is never read or written.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with file_lock(folder / "x.lock"):
        ...     (folder / "x.lock").exists()
        True
    """
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
