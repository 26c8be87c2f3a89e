"""Advisory file locks between processes (POSIX ``flock``), released by the kernel when the holder
exits, however it exits (``kill -9`` included), so a crashed process never leaves a stale lock.

One lock file per protected item (``<dataset>/locks/00003.lock``); the file itself stays on disk
and holds nothing (deleting lock files while processes hold them would let a third process take
a fresh one). Locks are per open file: two :class:`FileLock` objects on the same path exclude each
other in one process too.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class FileLock:
    """An exclusive lock on ``path`` (created if needed).

    ``acquire(blocking=False)`` returns ``False`` at once if another holder has it; ``acquire()``
    waits. Also a context manager (blocking).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, blocking: bool = True) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
