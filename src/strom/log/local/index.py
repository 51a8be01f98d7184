"""The sparse index of a segment: finds a batch by offset and by timestamp.

One index file per segment (``<base offset>.index``). An entry is written for a batch when at
least ``index.interval.bytes`` of data lie between it and the previous entry, so the index
stays small (one entry per ~4 KiB of data by default) and a lookup ends with a short forward
scan of batch headers. Each 16-byte entry holds::

    relative offset  u32   batch base offset - segment base offset
    position         u32   byte position of the batch in the segment file
    max ts before    i64   largest timestamp of all records before this batch in the segment

The last field makes the same entries a time index: "the first record with timestamp >= T"
lies at or after the last entry whose ``max ts before`` is < T, whatever the order of the
timestamps. The index is derived data: it is never fsync-ed and is rebuilt from the segment
when missing or damaged (recovery).
"""

from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass, field

ENTRY = struct.Struct("<IIq")
ENTRY_SIZE = ENTRY.size
NO_TIMESTAMP = -(2**63)
"""``max ts before`` of a position before any record."""


@dataclass(slots=True)
class SegmentIndex:
    """The entries of one segment's index, for lookups.

    Example:
        >>> idx = SegmentIndex.from_entries(100, [(10, 4096, 5), (20, 8192, 9)])
        >>> idx.position_for_offset(115), idx.position_for_offset(105)
        (4096, 0)
        >>> idx.position_for_timestamp(9), idx.position_for_timestamp(100)
        (4096, 8192)
    """

    base_offset: int
    offsets: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    ts_before: list[int] = field(default_factory=list)

    @classmethod
    def from_entries(cls, base_offset: int, entries: list[tuple[int, int, int]]) -> SegmentIndex:
        """From (relative offset, position, max ts before) triples."""
        index = cls(base_offset)
        for rel, pos, ts in entries:
            index.add(base_offset + rel, pos, ts)
        return index

    @classmethod
    def parse(cls, base_offset: int, data: bytes, limit_position: int) -> SegmentIndex:
        """Entries from index file bytes, dropping any that are not increasing or point at
        or past ``limit_position`` (what remains of a damaged index is still correct)."""
        index = cls(base_offset)
        usable = len(data) - len(data) % ENTRY_SIZE
        for rel, pos, ts in ENTRY.iter_unpack(data[:usable]):
            if pos >= limit_position or pos == 0:
                break
            if index.positions and (
                pos <= index.positions[-1] or base_offset + rel <= index.offsets[-1]
            ):
                break
            index.add(base_offset + rel, pos, ts)
        return index

    def add(self, offset: int, position: int, ts_before: int) -> None:
        """Append an entry (offsets and positions increase)."""
        self.offsets.append(offset)
        self.positions.append(position)
        self.ts_before.append(max(ts_before, self.ts_before[-1]) if self.ts_before else ts_before)

    def position_for_offset(self, offset: int) -> int:
        """Byte position of the last indexed batch starting at or before ``offset``."""
        i = bisect.bisect_right(self.offsets, offset)
        return self.positions[i - 1] if i else 0

    def entry_for_offset(self, offset: int, first: int) -> tuple[int, int]:
        """(base offset, byte position) of the last indexed batch starting at or before
        ``offset``; (``first``, 0) when there is none (``first``: the segment's first offset).
        """
        i = bisect.bisect_right(self.offsets, offset)
        return (self.offsets[i - 1], self.positions[i - 1]) if i else (first, 0)

    def position_for_timestamp(self, timestamp: int) -> int:
        """Byte position where the scan for the first record with ts >= ``timestamp`` starts."""
        i = bisect.bisect_left(self.ts_before, timestamp)
        return self.positions[i - 1] if i else 0

    def __len__(self) -> int:
        return len(self.offsets)


def read_index_file(
    path: str, base_offset: int, limit_position: int, count: int | None = None
) -> SegmentIndex:
    """Load an index file (``count`` entries at most); a missing file gives an empty index."""
    try:
        with open(path, "rb") as f:
            data = f.read() if count is None else f.read(count * ENTRY_SIZE)
    except FileNotFoundError:
        return SegmentIndex(base_offset)
    return SegmentIndex.parse(base_offset, data, limit_position)


def write_entry(fd: int, number: int, relative_offset: int, position: int, ts_before: int) -> None:
    """Write entry ``number`` of an index file."""
    os.pwrite(fd, ENTRY.pack(relative_offset, position, ts_before), number * ENTRY_SIZE)


def encode_index(index: SegmentIndex) -> bytes:
    """The file content of an index."""
    base = index.base_offset
    return b"".join(
        ENTRY.pack(off - base, pos, ts)
        for off, pos, ts in zip(index.offsets, index.positions, index.ts_before, strict=True)
    )
