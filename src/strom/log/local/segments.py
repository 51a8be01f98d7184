"""Segment files of a partition: naming, listing, positional reads and header scans.

Damage is confined: :func:`find_batch` looks past a damaged batch for the next valid one
(its magic byte, header CRC, data CRC and an offset not below the expected one), so a
damaged batch costs its own offsets and nothing after it (:meth:`Segment.walk`).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from strom.errors import CorruptRecordError
from strom.log.local.durability import storage_error
from strom.log.local.index import SegmentIndex, read_index_file
from strom.log.local.segment import (
    HEADER_SIZE,
    MAGIC,
    BatchHeader,
    body_ok,
    header_ok,
    parse_header,
)

_LOG_NAME = re.compile(r"^(\d{20})\.log$")
SCAN_CHUNK = 1 << 16
RESYNC_CHUNK = 1 << 20
_MAGIC_AT = 20  # byte of the magic number in a batch header (see segment.py)
_MAGIC_BYTE = bytes([MAGIC])


def find_batch(
    pread: Callable[[int, int], bytes], start: int, limit: int, min_offset: int
) -> tuple[int, BatchHeader] | None:
    """The first whole batch at or after byte ``start`` and ending by ``limit`` whose magic,
    header CRC and data CRC are right and whose base offset is ``min_offset`` or more.

    Used to get past damage: a batch whose header is damaged has an untrustworthy length,
    so the next batch is found by looking at every position where a header could start.
    Costs one header check per candidate (a position with the magic byte in place).
    """
    pos = start
    while pos + HEADER_SIZE <= limit:
        data = pread(min(RESYNC_CHUNK + HEADER_SIZE, limit - pos), pos)
        size = len(data)
        if size < HEADER_SIZE:
            return None
        i = data.find(_MAGIC_BYTE, _MAGIC_AT)
        while i != -1:
            candidate = i - _MAGIC_AT
            if candidate + HEADER_SIZE > size:
                break
            header = parse_header(data, candidate)
            at = pos + candidate
            if (
                header_ok(data, candidate, header)
                and header.base_offset >= min_offset
                and at + header.length <= limit
            ):
                end = candidate + header.length
                whole = data[candidate:end] if end <= size else pread(header.length, at)
                if len(whole) == header.length and body_ok(whole, 0, header):
                    return at, header
            i = data.find(_MAGIC_BYTE, i + 1)
        pos += max(size - HEADER_SIZE + 1, 1)
    return None


class Damage(NamedTuple):
    """A damaged stretch of a segment: bytes [position, end), offsets [first, next)."""

    position: int
    end: int
    first: int
    next: int
    reason: str


def log_name(base_offset: int) -> str:
    """File name of the segment starting at ``base_offset`` (Kafka's: 20 digits)."""
    return f"{base_offset:020d}.log"


def index_name(base_offset: int) -> str:
    """File name of that segment's index."""
    return f"{base_offset:020d}.index"


def list_bases(directory: Path) -> list[int]:
    """Base offsets of the segment files in ``directory``, ascending."""
    bases = []
    for name in os.listdir(directory):
        match = _LOG_NAME.match(name)
        if match:
            bases.append(int(match.group(1)))
    return sorted(bases)


class Segment:
    """One segment file: opened lazily, read with ``pread`` (safe across threads).

    The file stays open while any reader holds this object, even after retention or
    compaction removed it from the directory, so a reader in the middle of it is never cut.
    """

    __slots__ = ("_fd", "_index", "_lock", "_max_ts", "_size", "base", "index_path", "ino", "path")

    def __init__(self, directory: Path, base: int) -> None:
        self.base = base
        self.path = directory / log_name(base)
        self.index_path = directory / index_name(base)
        self._fd = -1
        self._size = -1
        self._max_ts: int | None = None
        self._index: SegmentIndex | None = None
        self._lock = threading.Lock()
        self.ino = os.stat(self.path).st_ino

    def fd(self) -> int:
        """The open file descriptor (opened on first use)."""
        if self._fd < 0:
            with self._lock:
                if self._fd < 0:
                    try:
                        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                    except FileNotFoundError:
                        raise  # removed by retention or compaction: the reader re-locates
                    except OSError as exc:
                        raise storage_error("open segment", self.path, exc) from exc
                    if os.fstat(fd).st_ino != self.ino:
                        os.close(fd)
                        raise FileNotFoundError(f"segment {self.path} was replaced")
                    self._fd = fd
        return self._fd

    def size(self) -> int:
        """Current file size (fixed once the segment is sealed)."""
        return os.fstat(self.fd()).st_size

    def sealed_size(self) -> int:
        """File size of a sealed segment, cached."""
        if self._size < 0:
            self._size = self.size()
        return self._size

    def pread(self, size: int, position: int) -> bytes:
        """Up to ``size`` bytes at ``position``."""
        try:
            return os.pread(self.fd(), size, position)
        except OSError as exc:
            raise storage_error("read segment", self.path, exc) from exc

    def sealed_index(self) -> SegmentIndex:
        """The index of a sealed segment, loaded once."""
        if self._index is None:
            self._index = read_index_file(str(self.index_path), self.base, self.sealed_size())
        return self._index

    def headers(self, position: int, limit: int) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of each batch from ``position`` to ``limit``, header-checked.

        Raises:
            CorruptRecordError: a header fails its checksum or runs past ``limit``.
        """
        while position < limit:
            raw = self.pread(HEADER_SIZE, position)
            if len(raw) < HEADER_SIZE:
                raise CorruptRecordError(
                    f"segment {self.path} ends at byte {position + len(raw)} inside a batch "
                    f"header (expected data up to byte {limit}); the file was truncated"
                )
            header = parse_header(raw, 0)
            if not header_ok(raw, 0, header) or position + header.length > limit:
                raise CorruptRecordError(
                    f"corrupt record batch header in {self.path} at byte {position}: checksum "
                    "mismatch or impossible length"
                )
            yield position, header
            position += header.length

    def damage_at(
        self, position: int, limit: int, first: int, end_offset: int, header: BatchHeader | None
    ) -> Damage:
        """The damaged stretch starting at ``position``, whose first offset is ``first``.

        With ``header`` (it passed its CRC, the data did not) it is that one batch. Without,
        it runs to the next valid batch, or to ``limit`` (then up to ``end_offset``).
        """
        if header is not None:
            return Damage(
                position,
                position + header.length,
                min(first, header.base_offset),
                header.next_offset,
                "data checksum mismatch",
            )
        found = find_batch(self.pread, position + 1, limit, first)
        if found is None:
            return Damage(position, limit, first, max(end_offset, first), "damaged batch header")
        at, after = found
        return Damage(position, at, first, after.base_offset, "damaged batch header")

    def walk(
        self, position: int, limit: int, first: int, end_offset: int
    ) -> Iterator[tuple[int, BatchHeader | Damage]]:
        """(position, header) of each batch from ``position`` (whose first offset is
        ``first``) to ``limit``, header-checked; a damaged header gives a :class:`Damage`
        spanning up to the next valid batch instead of stopping."""
        while position < limit:
            raw = self.pread(HEADER_SIZE, position)
            header = parse_header(raw, 0) if len(raw) == HEADER_SIZE else None
            if (
                header is None
                or not header_ok(raw, 0, header)
                or position + header.length > limit
                or header.base_offset < first
            ):
                damage = self.damage_at(position, limit, first, end_offset, None)
                yield position, damage
                position, first = damage.end, damage.next
                continue
            yield position, header
            position += header.length
            first = header.next_offset

    def max_timestamp(self) -> int:
        """Largest record timestamp of a sealed segment (from its index and last batches)."""
        if self._max_ts is None:
            index = self.sealed_index()
            best = index.ts_before[-1] if len(index) else -(2**63)
            start = index.positions[-1] if len(index) else 0
            for _, header in self.headers(start, self.sealed_size()):
                best = max(best, header.max_timestamp)
            self._max_ts = best
        return self._max_ts

    def close(self) -> None:
        """Close the file descriptor."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
