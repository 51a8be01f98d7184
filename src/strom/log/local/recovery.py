"""Recovery of a partition: rebuild its head and index from the segment files.

Runs whenever the head cannot be trusted: first use after a machine crash (the head carries
the boot id), or an active segment shorter than the head says (truncated behind our back).

Sealed segments were fsync-ed when rolled (under ``fsync=batch`` and ``interval``), so only the
active segment is scanned, batch by batch, checking both CRCs and that offsets increase:

* an invalid batch with no valid batch anywhere after it is a torn write (the append that was
  in progress when the crash came; never acknowledged under ``fsync=batch``): the file is cut
  before it;
* an invalid batch followed by a valid one is damage in the middle of the data: it is kept,
  and so is everything after it. The next valid batch is found by looking at every position
  after the damage (:func:`~strom.log.local.segments.find_batch`), not by trusting the damaged
  length, so a bit flipped in a length costs that batch and nothing more. Reading the damaged
  batch raises :class:`~strom.errors.CorruptRecordError` naming its offsets and byte position
  (or it is skipped, with ``on_corruption=skip``).

Only a writer holding the partition lock repairs (:func:`recover`: cuts the torn tail,
rewrites indexes, finishes an interrupted compaction swap). Readers that find the head
untrustworthy work out the same state without changing a byte (:func:`inspect`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from strom.log.local.durability import BOOT_ID, atomic_write, fsync_dir, storage_error
from strom.log.local.head import HeadState
from strom.log.local.index import NO_TIMESTAMP, SegmentIndex, encode_index
from strom.log.local.segment import HEADER_SIZE, BatchHeader, body_ok, header_ok, parse_header
from strom.log.local.segments import find_batch, index_name, list_bases, log_name

log = logging.getLogger(__name__)

LOG_START = "log-start.json"
"""The low watermark set by ``delete_records`` (segments below it may linger until deleted)."""


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
    """Scan the segment at ``path`` (see the module docstring); changes nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise storage_error("open segment", path, exc) from exc

    def pread(size: int, position: int) -> bytes:
        return os.pread(fd, size, position)

    try:
        size = os.fstat(fd).st_size
        result = ScanResult(0, base_offset, NO_TIMESTAMP, SegmentIndex(base_offset))
        pos = 0
        last_index = 0
        while pos < size:
            header = _batch_at(fd, pos, size, result.next_offset)
            if header is None:
                found = find_batch(pread, pos + 1, size, result.next_offset)
                if found is None:
                    result.torn_bytes = size - pos
                    break
                after, following = found
                log.error(
                    "corrupt data in %s at bytes %d to %d (offsets %d to %d): kept in place, "
                    "the data after it is intact",
                    path,
                    pos,
                    after,
                    result.next_offset,
                    following.base_offset - 1,
                )
                result.corrupt.append(pos)
                pos = after  # the next round takes the valid batch found there
                continue
            if pos and pos - last_index >= index_interval:
                result.index.add(header.base_offset, pos, result.max_ts)
                last_index = pos
            result.max_ts = max(result.max_ts, header.max_timestamp)
            result.next_offset = header.next_offset
            pos += header.length
            result.end = pos
        return result
    finally:
        os.close(fd)


def rebuild_index(path: Path, base_offset: int, index_interval: int) -> SegmentIndex:
    """Build the index of a sealed segment from its batches."""
    return scan(path, base_offset, index_interval).index


def read_log_start(directory: Path) -> int:
    """The low watermark ``delete_records`` stored (0 when none)."""
    try:
        return int(json.loads((directory / LOG_START).read_bytes())["log_start"])
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("ignoring unreadable %s: %s", directory / LOG_START, exc)
        return 0


def write_log_start(directory: Path, offset: int, *, sync: bool) -> None:
    """Store the low watermark durably (before segments below it are deleted)."""
    atomic_write(directory / LOG_START, json.dumps({"log_start": offset}).encode(), sync=sync)


def _state(
    directory: Path, bases: list[int], result: ScanResult, version: int, synced: int
) -> HeadState:
    active = bases[-1]
    created = 0
    if result.end:
        created = int(os.stat(directory / log_name(active)).st_mtime * 1000)
    log_start = max(bases[0], min(read_log_start(directory), result.next_offset))
    index = result.index
    return HeadState(
        next_offset=result.next_offset,
        log_start=log_start,
        active_base=active,
        active_end=result.end,
        segments_version=version,
        active_max_ts=result.max_ts,
        active_created_ms=created,
        boot_id=BOOT_ID,
        index_entries=len(index),
        last_index_position=index.positions[-1] if len(index) else 0,
        synced_offset=synced,
    )


def inspect(directory: Path, index_interval: int, version: int) -> tuple[HeadState, SegmentIndex]:
    """The state of the partition in ``directory`` and its active segment's index, worked
    out from the files without changing them (for readers: they never repair)."""
    bases = list_bases(directory)
    if not bases:
        empty = ScanResult(0, 0, NO_TIMESTAMP, SegmentIndex(0))
        return _state(directory, [0], empty, version, 0), empty.index
    result = scan(directory / log_name(bases[-1]), bases[-1], index_interval)
    return _state(directory, bases, result, version, 0), result.index


def recover(
    directory: Path, index_interval: int, *, previous: HeadState | None, sync: bool, version: int
) -> HeadState:
    """Rebuild the head of the partition in ``directory`` (caller holds the partition lock).

    Cuts a torn tail, rewrites the active segment's index, rebuilds missing indexes of sealed
    segments and publishes nothing: the caller writes the returned state.
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
            "recovery of %s: cutting off %d bytes of an incomplete batch at byte %d (a write "
            "the crash interrupted; no valid batch follows it)",
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
    if previous is not None:
        version = previous.segments_version + 2
    # What was read from the file may still be only in the page cache (a writer of this boot
    # under fsync=interval): 0 makes the next offset commit fsync it first.
    return _state(directory, bases, result, version & ~1, 0)
