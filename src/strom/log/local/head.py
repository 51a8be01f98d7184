"""The head of a partition: where its log ends, shared by all processes through ``mmap``.

Each partition directory has a small ``head`` file, memory-mapped by every process that
uses the partition. The writer (holding the partition lock) updates it after each append
*completes* (and is fsync-ed, under ``fsync=batch``); readers only read up to the end it
publishes, so they never see a half-written batch, and learn of new data without a syscall.

Updates use a sequence lock: the writer makes the counter odd, writes the fields, makes it
even again; a reader retries while the counter is odd or changed under it. A writer that
dies mid-update leaves the counter odd: the next process takes the partition lock, sees that,
and runs recovery.

The head is never fsync-ed. It is trusted only within the boot of the machine that wrote it
(it carries the boot id): after a machine crash the page cache, and with it the head, may be
stale, so recovery rebuilds it from the segment files.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import time
from pathlib import Path
from typing import NamedTuple

from strom.log.local.durability import BOOT_ID, storage_error

MAGIC = b"STRH"
VERSION = 1
SIZE = 4096
_PREFIX = struct.Struct("<4sI")
_SEQ = struct.Struct("<Q")
_SEQ_AT = 8
_BODY = struct.Struct("<qqqqQqq16sIq")
_BODY_AT = 16


class HeadState(NamedTuple):
    """What the head publishes about a partition."""

    next_offset: int
    """The high watermark: offset after the last complete record."""
    log_start: int
    """The first retained offset (the low watermark)."""
    active_base: int
    """Base offset of the active (last) segment."""
    active_end: int
    """Bytes of complete batches in the active segment."""
    segments_version: int
    """Changes whenever segments are added, deleted or replaced."""
    active_max_ts: int
    """Largest timestamp in the active segment (index.NO_TIMESTAMP when empty)."""
    active_created_ms: int
    """Wall-clock time the active segment got its first batch (0 while empty)."""
    boot_id: bytes
    index_entries: int
    """Valid entries in the active segment's index file."""
    last_index_position: int
    """Byte position of the last index entry of the active segment (0: none)."""


class Head:
    """The memory-mapped head file of one partition."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                if os.fstat(fd).st_size < SIZE:
                    # Real bytes, not ftruncate: a hole would be allocated on the first store
                    # into the mapping, and on a full disk that is a SIGBUS, not an error.
                    os.pwrite(fd, bytes(SIZE), 0)
                self._map = mmap.mmap(fd, SIZE)
            finally:
                os.close(fd)
        except OSError as exc:
            raise storage_error("open partition head", path, exc) from exc

    def read(self, *, spins: int = 2000) -> HeadState | None:
        """A consistent snapshot, or None when the head is not valid for this boot (never
        written, written by another boot, or torn by a writer that died mid-update)."""
        m = self._map
        for attempt in range(spins):
            (seq,) = _SEQ.unpack_from(m, _SEQ_AT)
            if seq & 1:
                if attempt > 50:
                    time.sleep(0.0001)
                continue
            state = HeadState._make(_BODY.unpack_from(m, _BODY_AT))
            (again,) = _SEQ.unpack_from(m, _SEQ_AT)
            if again != seq:
                continue
            if _PREFIX.unpack_from(m, 0) != (MAGIC, VERSION) or state.boot_id != BOOT_ID:
                return None
            return state
        return None

    def write(self, state: HeadState) -> None:
        """Publish ``state`` (caller holds the partition lock)."""
        m = self._map
        (seq,) = _SEQ.unpack_from(m, _SEQ_AT)
        seq |= 1  # odd: being written (also repairs a counter left odd by a dead writer)
        _SEQ.pack_into(m, _SEQ_AT, seq)
        _BODY.pack_into(m, _BODY_AT, *state._replace(boot_id=BOOT_ID))
        _PREFIX.pack_into(m, 0, MAGIC, VERSION)
        _SEQ.pack_into(m, _SEQ_AT, seq + 1)

    def close(self) -> None:
        """Unmap the file."""
        with contextlib.suppress(BufferError, ValueError):
            self._map.close()
