"""When the embedded log calls fsync, and the file helpers that make writes durable.

Three policies, chosen with the ``fsync`` option (``local://data?fsync=interval``):

``batch`` (the default)
    Before a write is acknowledged (delivery callback, ``flush()`` returning, a commit
    returning), its data is ``fdatasync``-ed. An acknowledged record survives a crash of the
    process *and* of the machine. Costs one fsync per appended batch: producers batch records,
    so this is one fsync per flush or per ``batch.size`` bytes, not per record.
``interval``
    Segment data is fsync-ed at most every ``fsync.interval.ms`` (default 1000) and when a
    producer closes; metadata (topics, committed offsets, transaction intents) is still
    fsync-ed at once. A crash of the process loses nothing acknowledged; a crash of the machine
    may lose up to the last interval of acknowledged records. An offset commit first fsyncs
    the records it covers (:meth:`Partition.make_durable`), so a committed offset never points
    past records a machine crash lost.
``none``
    Never fsync; the OS writes back when it wants. Fine for tests and throw-away data.
    A crash of the process loses nothing acknowledged (the data is in the page cache).

With every policy a sealed (rolled) segment is fsync-ed once when it is rolled, so recovery
after a machine crash only has to scan the active segment of each partition.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
import uuid
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from strom.errors import ConfigError, StorageError


class FsyncPolicy(Enum):
    """See the module docstring."""

    BATCH = "batch"
    INTERVAL = "interval"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Durability:
    """The fsync policy of one log, and the helpers that apply it."""

    policy: FsyncPolicy = FsyncPolicy.BATCH
    interval_ms: int = 1000

    @classmethod
    def parse(cls, policy: str, interval_ms: str) -> Durability:
        """From the ``fsync`` and ``fsync.interval.ms`` options; ConfigError when invalid."""
        try:
            parsed = FsyncPolicy(policy.strip().lower())
        except ValueError:
            raise ConfigError(
                f"option fsync={policy!r} is invalid: use 'batch', 'interval' or 'none'"
            ) from None
        try:
            interval = int(interval_ms)
        except ValueError:
            interval = -1
        if interval < 0:
            raise ConfigError(f"option fsync.interval.ms={interval_ms!r} must be an integer >= 0")
        return cls(parsed, interval)

    @property
    def sync_each_batch(self) -> bool:
        """fsync segment data before acknowledging each append."""
        return self.policy is FsyncPolicy.BATCH

    @property
    def sync_metadata(self) -> bool:
        """fsync metadata files (topics, offsets, transaction intents) when written."""
        return self.policy is not FsyncPolicy.NONE


def storage_error(action: str, path: Path | str, exc: OSError) -> StorageError:
    """A StorageError naming what failed, the file, the OS reason and what to do."""
    reason = exc.strerror or str(exc)
    hint = ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "; free disk space (or lower retention) and retry"
    elif exc.errno == errno.EFBIG:
        hint = "; the file size limit (ulimit -f) was reached"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "; check the permissions of the log directory"
    elif exc.errno == errno.EIO:
        hint = "; the disk reported an I/O error: check the device"
    return StorageError(f"{action} failed for {path}: {reason} (errno {exc.errno}){hint}")


def fsync_fd(fd: int, path: Path | str) -> None:
    """fdatasync ``fd``; StorageError on failure."""
    try:
        os.fdatasync(fd)
    except OSError as exc:
        raise storage_error("fsync", path, exc) from exc


def fsync_dir(path: Path | str) -> None:
    """fsync a directory so that file creations and renames in it are durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise storage_error("open directory", path, exc) from exc
    try:
        os.fsync(fd)
    except OSError as exc:
        raise storage_error("fsync directory", path, exc) from exc
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview, position: int) -> None:
    """pwrite every byte of ``data`` at ``position`` (short writes are retried)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, position)
        if written <= 0:  # pragma: no cover - pwrite raises rather than returning 0
            raise OSError(errno.EIO, "short write")
        view = view[written:]
        position += written


def atomic_write(path: Path, data: bytes, *, sync: bool) -> None:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, rename, fsync dir).

    Readers see the old content or the new one, never a mix; after a crash, one of the two.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            write_all(fd, data, 0)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise storage_error("write", path, exc) from exc
    if sync:
        fsync_dir(path.parent)


def _read_boot_id() -> bytes:
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            return uuid.UUID(f.read().strip().decode()).bytes
    except (OSError, ValueError):
        # Elsewhere the boot time stands in for the boot id. It drifts a little (sleep), which
        # only ever causes an extra recovery scan, never a missed one.
        boot = int(time.time() - time.monotonic()) // 10
        return boot.to_bytes(16, "little", signed=True)


BOOT_ID = _read_boot_id()
"""Identifies this boot of the machine: state kept in memory-mapped files is trusted only
within the boot that wrote it (the page cache dies with the machine)."""
