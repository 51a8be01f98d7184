"""The head of a partition: where its log ends, shared by all processes through ``mmap``.

Each partition directory has a small ``head`` file, memory-mapped by every process that
uses the partition. The writer (holding the partition lock) updates it after each append
*completes* (and is fsync-ed, under ``fsync=batch``); readers only read up to the end it
publishes, so they never see a half-written batch, and learn of new data without a syscall.

Two slots, each self-validating, instead of a sequence lock. A seqlock needs the reader's
loads and the writer's stores to happen in program order, which x86 gives for free and
aarch64 (or any weakly ordered CPU) does not: there a reader can see the new counter with an
old body, and Python offers no memory barrier on a shared mapping. Here every slot carries
its own sequence number and a CRC-32C over the sequence number and the body:

* the writer writes the new state into the slot holding the *older* sequence number, with
  sequence number = newest + 1; the slot holding the current state is never touched;
* a reader reads both slots and keeps the valid one (CRC matches) with the larger sequence
  number. A slot being written, or read in any order the CPU likes, is either consistent
  (CRC matches: it is one complete write, and its sequence number says which) or rejected.

So correctness rests on the checksum, not on the order of memory operations: a torn slot
passes only by a CRC collision (2^-32 per torn read, and a read is torn only when it races
the microsecond a writer spends on one slot). A writer that dies mid-update leaves the
previous slot intact: the head then still describes the last complete append, and the bytes
the dead writer put after it are cut off by the next writer.

The head is never fsync-ed. It is trusted only within the boot of the machine that wrote it
(it carries the boot id): after a machine crash the page cache, and with it the head, may be
stale, so recovery rebuilds it from the segment files.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from pathlib import Path
from typing import NamedTuple

from fastcrc.crc32 import iscsi as crc32c

from strom.log.local.durability import BOOT_ID, storage_error

MAGIC = b"STRH"
VERSION = 2
SIZE = 4096
_PREFIX = struct.Struct("<4sI")
_SLOT_HEAD = struct.Struct("<QI")  # sequence number, CRC of everything after the CRC field
_BODY = struct.Struct("<qqqqQqq16sIqq")
_SLOTS = (64, 256)
_SEQ_BYTES = struct.Struct("<Q")


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
    """Changes whenever segments are added, deleted or replaced (odd: a compaction swap is
    under way)."""
    active_max_ts: int
    """Largest timestamp in the active segment (index.NO_TIMESTAMP when empty)."""
    active_created_ms: int
    """Wall-clock time the active segment got its first batch (0 while empty)."""
    boot_id: bytes
    index_entries: int
    """Valid entries in the active segment's index file."""
    last_index_position: int
    """Byte position of the last index entry of the active segment (0: none)."""
    synced_offset: int
    """Offsets below this are fsync-ed (under every policy but ``none``)."""


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

    def _slot(self, at: int) -> tuple[int, HeadState | None]:
        """(sequence number, state) of the slot at ``at``; state None when it fails its CRC."""
        raw = self._map[at : at + _SLOT_HEAD.size + _BODY.size]  # one copy, then checked
        seq, crc = _SLOT_HEAD.unpack_from(raw, 0)
        if crc32c(raw[12:], crc32c(raw[:8])) != crc or seq == 0:
            return seq, None
        return seq, HeadState._make(_BODY.unpack_from(raw, _SLOT_HEAD.size))

    def read(self) -> HeadState | None:
        """The last state published, or None when the head is not valid for this boot (never
        written, or written by another boot or format)."""
        m = self._map
        if _PREFIX.unpack_from(m, 0) != (MAGIC, VERSION):
            return None
        first, second = _SLOTS
        if _SEQ_BYTES.unpack_from(m, second)[0] > _SEQ_BYTES.unpack_from(m, first)[0]:
            first, second = second, first
        # The slot with the larger sequence number is the newest unless it is being written.
        state = self._slot(first)[1] or self._slot(second)[1]
        if state is None or state.boot_id != BOOT_ID:
            return None
        return state

    def write(self, state: HeadState) -> None:
        """Publish ``state`` (caller holds the partition lock: one writer at a time)."""
        m = self._map
        if _PREFIX.unpack_from(m, 0) != (MAGIC, VERSION):
            m[: _SLOTS[1] + _SLOT_HEAD.size + _BODY.size] = bytes(
                _SLOTS[1] + _SLOT_HEAD.size + _BODY.size
            )
            _PREFIX.pack_into(m, 0, MAGIC, VERSION)
        slots = [(self._slot(at), at) for at in _SLOTS]
        newest = max((seq for (seq, st), _ in slots if st is not None), default=0)
        # Overwrite the slot that does not hold the newest valid state.
        target = next(
            at for (seq, st), at in sorted(slots, key=lambda s: (s[0][1] is not None, s[0][0]))
        )
        seq = newest + 1
        body = _BODY.pack(*state._replace(boot_id=BOOT_ID))
        seq_raw = _SEQ_BYTES.pack(seq)
        crc = crc32c(body, crc32c(seq_raw))
        m[target : target + _SLOT_HEAD.size + _BODY.size] = _SLOT_HEAD.pack(seq, crc) + body

    def close(self) -> None:
        """Unmap the file."""
        with contextlib.suppress(BufferError, ValueError):
            self._map.close()
