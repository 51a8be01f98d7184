"""Cross-process file locks (``flock``) for the embedded log.

``flock`` locks belong to an open file description, so two handles in one process exclude
each other just like two processes do, and the kernel releases a lock when its holder dies
(even by SIGKILL): a crashed writer never leaves a partition locked.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from strom.errors import StorageError
from strom.log.local.durability import storage_error


class FileLock:
    """An exclusive lock on a file, shared by every process that opens the same path.

    Also excludes threads of this process (an in-process mutex is taken first), so one
    instance can be shared by threads.

    Example:
        >>> import tempfile, pathlib
        >>> lock = FileLock(pathlib.Path(tempfile.mkdtemp()) / "lock")
        >>> with lock:
        ...     pass
        >>> lock.close()
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise storage_error("open lock file", path, exc) from exc
        self._mutex = threading.RLock()
        self._depth = 0

    def acquire(self, timeout: float | None = None) -> None:
        """Take the lock, waiting at most ``timeout`` seconds (None: as long as it takes).

        Raises:
            StorageError: the lock was not free within ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._mutex.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            raise StorageError(f"timed out after {timeout:.1f}s waiting for lock {self.path}")
        if self._depth:
            self._depth += 1
            return
        try:
            if deadline is None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            else:
                delay = 0.0005
                while True:
                    try:
                        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise StorageError(
                                f"timed out after {timeout:.1f}s waiting for lock {self.path} "
                                "(held by another process)"
                            ) from None
                        time.sleep(delay)
                        delay = min(delay * 2, 0.02)
        except BaseException:
            self._mutex.release()
            raise
        self._depth = 1

    def release(self) -> None:
        """Release the lock."""
        self._depth -= 1
        if self._depth == 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._mutex.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def close(self) -> None:
        """Close the file (releasing the lock if held)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def try_lock(fd: int, *, shared: bool = False) -> bool:
    """Try to lock ``fd`` without waiting; True when taken."""
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def is_locked_by_other(path: Path) -> bool:
    """True while some other open file description holds an exclusive lock on ``path``.

    Used to tell a live owner (it holds its lock for its lifetime) from a dead one.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        if try_lock(fd, shared=True):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)
