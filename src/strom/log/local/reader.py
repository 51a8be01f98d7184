"""Reading a partition: sequential batch reads, offset and timestamp lookups.

A :class:`PartitionReader` keeps a cursor (segment, byte position) so that sequential reads
cost one ``pread`` per chunk of batches; a seek costs an index lookup plus a short scan of
batch headers. Only data up to the end published in the head is read, so a batch being
written is never seen half-way. Both CRCs of every batch are checked before its records are
returned.

A read returns a :class:`Fetch`: the checked batches of one chunk, decoded into records only
as they are taken. A chunk (``fetch.max.bytes``, 4 MiB) can hold tens of thousands of small
records; building them all at once would keep them alive until polled, and the garbage
collector walks every live record (a ``Record`` is a tuple subclass, which it never stops
tracking) at each collection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from strom.errors import CorruptRecordError, StorageError
from strom.log.local.head import HeadState
from strom.log.local.partition import Partition
from strom.log.local.segment import (
    HEADER_SIZE,
    BatchHeader,
    body_ok,
    build_records,
    decode_columns,
    first_index,
    header_ok,
    parse_header,
)
from strom.log.local.segments import Damage, Segment
from strom.log.types import Record

log = logging.getLogger(__name__)


class OffsetOutOfRange(StorageError):
    """Internal: the requested offset is before the log start (retention removed it)."""


class Fetch:
    """Checked batches of one chunk read from a partition, turned into records on demand.

    Not thread-safe: owned by one consumer.
    """

    __slots__ = ("_batches", "_columns", "_count", "_data", "_index", "_min_offset", "_next", "_tp")

    def __init__(
        self,
        topic: str,
        partition: int,
        data: bytes,
        batches: list[tuple[int, BatchHeader]],
        min_offset: int,
    ) -> None:
        self._tp = (topic, partition)
        self._data: bytes | None = data
        self._batches = batches
        self._min_offset = min_offset
        self._next = 0
        self._columns: tuple[Any, ...] | None = None
        self._index = 0
        self._count = 0

    def take(self, max_records: int) -> list[Record]:
        """Up to ``max_records`` of the next records (fewer only when the fetch runs out)."""
        out: list[Record] = []
        while len(out) < max_records:
            columns = self._columns
            if columns is None:
                if self._next >= len(self._batches) or self._data is None:
                    break
                pos, header = self._batches[self._next]
                self._next += 1
                columns = self._columns = decode_columns(self._data, pos, header)
                if self._next == len(self._batches):
                    self._data = None  # every batch is decoded: let the chunk go
                self._index = first_index(columns[0], self._min_offset)
                self._count = header.record_count
            start = self._index
            stop = min(self._count, start + max_records - len(out))
            offsets, timestamps, keys, values, headers = columns
            if start or stop < self._count:
                offsets, timestamps = offsets[start:stop], timestamps[start:stop]
                keys, values, headers = keys[start:stop], values[start:stop], headers[start:stop]
            records = build_records(*self._tp, offsets, keys, values, timestamps, headers)
            self._index = stop
            if stop >= self._count:
                self._columns = None
            if out:
                out.extend(records)
            else:
                out = records
        return out


class PartitionReader:
    """A read cursor over one partition (not thread-safe: one per consumer and partition).

    Damage costs exactly the damaged batch: the records before it are served first, then
    reading it raises :class:`~strom.errors.CorruptRecordError` naming its offsets and byte
    position (every later read from before it raises again; a read from after it works), or
    with ``skip_corrupt`` its offsets, and only those, are skipped.
    """

    def __init__(self, partition: Partition, *, skip_corrupt: bool = False) -> None:
        self.partition = partition
        self.skip_corrupt = skip_corrupt
        self._seg: Segment | None = None
        self._pos = 0
        self._at = 0
        """Offset of the first record at ``_pos`` (after the batches before it)."""
        self._next = -1

    def _locate(self, offset: int, st: HeadState) -> None:
        p = self.partition
        seg = p.segment_at(offset, st)
        if seg is None:
            segments = p.segments(st)
            if not segments:
                raise StorageError(f"{p}: no segment files")
            seg = segments[0]
        limit = p.limit(seg, st)
        end = self._end_of(seg, st)
        at, start = p.index(seg, st).entry_for_offset(offset, seg.base)
        found = self._scan_to(seg, start, limit, at, end, offset)
        if found is None:  # the index pointed nowhere useful (stale after a crash): scan it all
            found = self._scan_to(seg, 0, limit, seg.base, end, offset)
        assert found is not None
        self._seg, (self._pos, self._at), self._next = seg, found, offset

    def _end_of(self, seg: Segment, st: HeadState) -> int:
        """The offset after ``seg``: the next segment's base, or the end of the log."""
        for other in self.partition.segments(st):
            if other.base > seg.base:
                return other.base
        return st.next_offset

    def _scan_to(
        self, seg: Segment, start: int, limit: int, first: int, end: int, offset: int
    ) -> tuple[int, int] | None:
        """(position, first offset there) of the batch or damage holding ``offset`` or the
        first after it, scanning from ``start``; None when ``start`` is not a batch start."""
        for pos, item in seg.walk(start, limit, first, end):
            if isinstance(item, Damage):
                if pos == start and start:
                    return None
                if item.next > offset:
                    return pos, item.first
                continue
            if pos == start and start and item.base_offset > offset:
                return None
            if item.last_offset >= offset:
                return pos, first
            first = item.next_offset
        return limit, first

    def _damaged(self, seg: Segment, damage: Damage) -> None:
        """Raise for ``damage`` (or, when skipping, log it and move past it)."""
        p = self.partition
        last = damage.next - 1
        what = f"offsets {damage.first} to {last}" if last >= damage.first else "no offsets"
        message = (
            f"corrupt record batch in {seg.path} at byte {damage.position} ({damage.reason}); "
            f"topic {p.topic!r} partition {p.number}, {what}; the data before and after it is "
            "intact. Restore the segment from a copy, or open the log with on_corruption=skip "
            "to skip these offsets"
        )
        if not self.skip_corrupt:
            raise CorruptRecordError(message)
        log.error("%s: skipped", message)
        self._pos, self._at = damage.end, max(self._at, damage.next)

    def read(self, offset: int, max_bytes: int) -> tuple[Fetch | None, int]:
        """Records at ``offset`` and after, from whole batches of about ``max_bytes`` at most
        (at least one batch); returns them (None: none) and the offset to read next.

        Raises:
            OffsetOutOfRange: ``offset`` is before the first retained offset.
            CorruptRecordError: the next batch failed its checksum (unless skipping).
        """
        for _ in range(3):
            try:
                return self._read(offset, max_bytes)
            except FileNotFoundError:
                # Another process deleted or replaced a segment since we listed them.
                self._seg = None
        return None, offset

    def _read(self, offset: int, max_bytes: int) -> tuple[Fetch | None, int]:
        p = self.partition
        st = p.state()
        if offset >= st.next_offset:
            return None, offset
        if offset < st.log_start:
            raise OffsetOutOfRange(
                f"offset {offset} of topic {p.topic!r} partition {p.number} is before the log "
                f"start {st.log_start}"
            )
        if self._seg is None or self._next != offset:
            self._locate(offset, st)
        topic, number = p.topic, p.number
        for _ in range(1000):
            seg = self._seg
            assert seg is not None
            limit = p.limit(seg, st)
            if self._pos >= limit:
                following = [s for s in p.segments(st) if s.base > seg.base]
                if not following:
                    # Only skipped damage at the end of the active segment gets here.
                    self._next = max(offset, self._at)
                    return None, self._next
                self._seg, self._pos, self._at = following[0], 0, following[0].base
                continue
            try:
                want = min(max(max_bytes, HEADER_SIZE), limit - self._pos)
                data = seg.pread(want, self._pos)
            except StorageError:
                self._seg = None
                raise
            batches: list[tuple[int, BatchHeader]] = []
            pos, size, at = 0, len(data), self._at
            damage: Damage | None = None
            while pos + HEADER_SIZE <= size:
                header = parse_header(data, pos)
                if (
                    not header_ok(data, pos, header)
                    or self._pos + pos + header.length > limit
                    or header.base_offset < at
                ):
                    damage = seg.damage_at(self._pos + pos, limit, at, self._end_of(seg, st), None)
                    break
                if pos + header.length > size:
                    if pos == 0:
                        data = seg.pread(header.length, self._pos)
                        size = len(data)
                        if size == header.length:
                            continue
                    break
                if not body_ok(data, pos, header):
                    damage = seg.damage_at(self._pos + pos, limit, at, 0, header)
                    break
                if header.last_offset >= offset:
                    batches.append((pos, header))
                at = header.next_offset
                pos += header.length
            if batches or (pos and damage is None):
                # The intact batches before any damage are served first.
                self._pos += pos
                self._at = at
                self._next = next_offset = max(offset, at)
                if batches:
                    return Fetch(topic, number, data, batches, offset), next_offset
                offset = next_offset
                if offset >= st.next_offset:
                    return None, offset
                continue
            if damage is not None:
                self._damaged(seg, damage)  # raises unless skipping
                self._next = offset = max(offset, self._at)
                if offset >= st.next_offset:
                    return None, offset
                continue
            if len(data) < want:
                # Less data than the head promised: the file was cut behind our back.
                p.verify()
                self._seg = None
            return None, offset
        return None, offset


def offset_for_time(partition: Partition, timestamp: int) -> int | None:
    """The earliest offset whose record timestamp is >= ``timestamp`` (None: there is none)."""
    for _ in range(3):
        try:
            return _offset_for_time(partition, timestamp)
        except FileNotFoundError:
            continue  # a segment was deleted or replaced meanwhile: look again
    raise StorageError(f"{partition}: segments keep changing; retry offsets_for_times")


def _offset_for_time(partition: Partition, timestamp: int) -> int | None:
    p = partition
    st = p.state()
    for seg in p.segments(st):
        limit = p.limit(seg, st)
        if limit == 0:
            continue
        seg_max = st.active_max_ts if seg.base == st.active_base else seg.max_timestamp()
        if seg_max < timestamp:
            continue
        start = p.index(seg, st).position_for_timestamp(timestamp)
        for pos, header in seg.headers(start, limit):
            if header.max_timestamp < timestamp:
                continue
            data = seg.pread(header.length, pos)
            if not body_ok(data, 0, header):
                raise CorruptRecordError(
                    f"corrupt record batch in {seg.path} at byte {pos} (data checksum mismatch)"
                )
            offsets, timestamps, _, _, _ = decode_columns(data, 0, header)
            for offset, ts in zip(offsets, timestamps, strict=True):
                if ts >= timestamp and offset >= st.log_start:
                    return offset
    return None


def iter_headers(partition: Partition, offset: int) -> Iterator[BatchHeader]:
    """Headers of the batches holding offsets >= ``offset`` (header-checked), in order."""
    p = partition
    st = p.state()
    if offset >= st.next_offset:
        return
    segments = p.segments(st)
    for i, seg in enumerate(segments):
        if i + 1 < len(segments) and segments[i + 1].base <= offset:
            continue  # entirely before ``offset``
        start = p.index(seg, st).position_for_offset(offset) if seg.base <= offset else 0
        for _, header in seg.headers(start, p.limit(seg, st)):
            if header.last_offset >= offset:
                yield header
