"""Recovery of a partition: rebuild its head and index from the segment files.

Runs under the partition lock whenever the head cannot be trusted: first use after a machine
crash (the head carries the boot id), a writer that died in the middle of updating the head,
or an active segment shorter than the head says (truncated behind our back).

Sealed segments were fsync-ed when rolled (under ``fsync=batch`` and ``interval``), so only the
active segment is scanned, batch by batch, checking both CRCs and that offsets increase:

* an invalid batch that runs to the end of the file is a torn write (the append that was in
  progress when the crash came; never acknowledged): the file is truncated before it;
* an invalid batch followed by a valid one is damage in the middle of the data: it is kept,
  so that reading it raises :class:`~strom.errors.CorruptRecordError` naming file and byte
  position (or is skipped with ``on_corruption=skip``), and recovery goes on after it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from strom.log.local.durability import BOOT_ID, fsync_dir, storage_error
from strom.log.local.head import HeadState
from strom.log.local.index import NO_TIMESTAMP, SegmentIndex, encode_index
from strom.log.local.segment import (
    HEADER_SIZE,
    BatchHeader,
    body_ok,
    header_ok,
    parse_header,
)
from strom.log.local.segments import index_name, list_bases, log_name

log = logging.getLogger(__name__)

READ_CHUNK = 4 << 20


@dataclass(slots=True)
class ScanResult:
    """What a scan of a segment found."""

    end: int
    """Byte position after the last batch kept."""
    next_offset: int
    max_ts: int
    index: SegmentIndex
    corrupt: list[int] = field(default_factory=list)
    """Byte positions of damaged batches kept in place."""
    torn_bytes: int = 0
    """Bytes after ``end`` (a torn write)."""


def _batch_at(fd: int, pos: int, size: int, min_offset: int) -> BatchHeader | None:
    """The batch at ``pos`` if it is whole, checksummed and starts at ``min_offset`` or later."""
    if size - pos < HEADER_SIZE:
        return None
    raw = os.pread(fd, HEADER_SIZE, pos)
    header = parse_header(raw, 0)
    if not header_ok(raw, 0, header) or pos + header.length > size:
        return None
    if header.base_offset < min_offset:
        return None
    body = os.pread(fd, header.length, pos)
    if not body_ok(body, 0, header):
        return None
    return header


def scan(path: Path, base_offset: int, index_interval: int) -> ScanResult:
    """Scan the segment at ``path`` (see the module docstring)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise storage_error("open segment", path, exc) from exc
    try:
        size = os.fstat(fd).st_size
        result = ScanResult(0, base_offset, NO_TIMESTAMP, SegmentIndex(base_offset))
        pos = 0
        last_index = 0
        while pos < size:
            header = _batch_at(fd, pos, size, result.next_offset)
            if header is None:
                # Damage in the middle, or the torn tail? Look for a valid batch right after.
                raw = os.pread(fd, HEADER_SIZE, pos)
                following = None
                if len(raw) == HEADER_SIZE:
                    claimed = parse_header(raw, 0)
                    after = pos + claimed.length
                    if claimed.length >= HEADER_SIZE and after < size:
                        following = _batch_at(fd, after, size, result.next_offset)
                if following is None:
                    result.torn_bytes = size - pos
                    break
                log.error("corrupt record batch in %s at byte %d: kept in place", path, pos)
                result.corrupt.append(pos)
                header_len = after - pos
                if pos - last_index >= index_interval:
                    result.index.add(following.base_offset, after, result.max_ts)
                    last_index = after
                result.next_offset = following.base_offset
                pos += header_len
                continue
            if pos and pos - last_index >= index_interval:
                result.index.add(header.base_offset, pos, result.max_ts)
                last_index = pos
            result.max_ts = max(result.max_ts, header.max_timestamp)
            result.next_offset = header.next_offset
            pos += header.length
            result.end = pos
        if not result.torn_bytes:
            result.end = pos
        return result
    finally:
        os.close(fd)


def rebuild_index(path: Path, base_offset: int, index_interval: int) -> SegmentIndex:
    """Build the index of a sealed segment from its batch headers."""
    return scan(path, base_offset, index_interval).index


def recover(
    directory: Path, index_interval: int, *, previous: HeadState | None, sync: bool
) -> HeadState:
    """Rebuild the head of the partition in ``directory`` (caller holds the partition lock).

    Truncates a torn tail, rewrites the active segment's index, rebuilds missing indexes of
    sealed segments and publishes nothing: the caller writes the returned state.
    """
    from strom.log.local.compaction import finish_interrupted

    finish_interrupted(directory, sync=sync)
    for name in os.listdir(directory):
        if name.endswith((".tmp", ".cleaned")):
            os.unlink(directory / name)
    bases = list_bases(directory)
    if not bases:
        fd = os.open(directory / log_name(0), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        os.close(fd)
        if sync:  # the file must survive a machine crash with the data acknowledged in it
            fsync_dir(directory)
        bases = [0]
    for base in bases[:-1]:
        index_path = directory / index_name(base)
        if not index_path.exists():
            index = rebuild_index(directory / log_name(base), base, index_interval)
            index_path.write_bytes(encode_index(index))
    active = bases[-1]
    path = directory / log_name(active)
    result = scan(path, active, index_interval)
    if result.torn_bytes:
        log.warning(
            "recovery of %s: truncating %d bytes of an incomplete batch at byte %d",
            path,
            result.torn_bytes,
            result.end,
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.ftruncate(fd, result.end)
                if sync:
                    os.fdatasync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise storage_error("truncate torn batch", path, exc) from exc
    (directory / index_name(active)).write_bytes(encode_index(result.index))
    created = 0
    if result.end:
        created = int(os.stat(path).st_mtime * 1000)
    version = (previous.segments_version + 2) if previous else time.time_ns() & ~1
    index = result.index
    return HeadState(
        next_offset=result.next_offset,
        log_start=bases[0],
        active_base=active,
        active_end=result.end,
        segments_version=version,
        active_max_ts=result.max_ts,
        active_created_ms=created,
        boot_id=BOOT_ID,
        index_entries=len(index),
        last_index_position=index.positions[-1] if len(index) else 0,
    )
