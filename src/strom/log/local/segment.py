"""Record batches: how records are framed in the embedded log's segment files.

A segment file is a sequence of record batches. A batch holds many records, stored column by
column so that encoding and decoding cost a few C-level calls per batch and little Python
work per record::

    header (60 bytes, little-endian)
      0  base_offset        i64   offset of the batch's first record
      8  length             u32   bytes of the whole batch, header included
      12 header_crc         u32   CRC-32C of header bytes [0, 12) and [16, 60)
      16 body_crc           u32   CRC-32C of the body
      20 magic              u8    format version (1)
      21 attributes         u8    ATTR_* flags below
      22 record_count       u32
      26 last_offset_delta  u32   last record's offset - base_offset
      30 max_timestamp      i64
      38 producer_id        i64   -1, or the transactional producer that wrote the batch
      46 producer_epoch     i16
      48 base_sequence      i32   transaction sequence number (-1 outside transactions)
      52 delete_horizon     i64   compaction: time after which tombstones may go (0: unset)
    body
      offset deltas         u32[n]  only with ATTR_SPARSE (after compaction)
      timestamps            i64[n]
      key lengths           i32[n]  -1 for a None key
      value lengths         i32[n]  -1 for a None value (a tombstone)
      header blob lengths   u32[n]  only with ATTR_HEADERS
      keys, values, header blobs    concatenated

A header blob is a run of ``name length u16, name (UTF-8), value length u32, value``.

The body CRC is computed once by the producer, outside any lock; the base offset is only
known under the partition lock, so it is covered by the small header CRC, computed then
(:func:`seal`). Every read checks both CRCs: a damaged batch is never returned as data.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Sequence
from itertools import repeat
from typing import Any, NamedTuple

from fastcrc.crc32 import iscsi as crc32c  # CRC-32C (Castagnoli)

from strom.log.types import Headers, Record
from strom.log.types import make_record as make_record  # re-exported: the one-record form

MAGIC = 1
HEADER = struct.Struct("<qIIIBBIIqqhiq")
HEADER_SIZE = HEADER.size
_CRC_HEAD = struct.Struct("<I")

ATTR_SPARSE = 0x01
"""Offset deltas are stored (compaction removed records inside the batch)."""
ATTR_HEADERS = 0x02
"""At least one record has headers."""
ATTR_TRANSACTIONAL = 0x04
"""Written by a committed transaction."""
ATTR_LOG_APPEND_TIME = 0x08
"""Timestamps were set by the log (``message.timestamp.type=LogAppendTime``)."""

RECORD_OVERHEAD = 20
"""Bytes a record adds besides its key, value and headers (the column entries)."""


class BatchHeader(NamedTuple):
    """The decoded fixed header of a batch."""

    base_offset: int
    length: int
    header_crc: int
    body_crc: int
    magic: int
    attributes: int
    record_count: int
    last_offset_delta: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    delete_horizon: int

    @property
    def last_offset(self) -> int:
        """Offset of the batch's last record."""
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        """Offset after the batch."""
        return self.base_offset + self.last_offset_delta + 1


def header_size_of(headers: Headers) -> int:
    """Encoded size of one record's headers."""
    return sum(6 + len(name.encode()) + len(value) for name, value in headers)


def _encode_headers(headers: Headers) -> bytes:
    parts: list[bytes] = []
    for name, value in headers:
        raw = name.encode()
        parts.append(struct.pack("<H", len(raw)))
        parts.append(raw)
        parts.append(struct.pack("<I", len(value)))
        parts.append(value)
    return b"".join(parts)


def _decode_headers(blob: bytes) -> Headers:
    out: list[tuple[str, bytes]] = []
    pos, end = 0, len(blob)
    while pos < end:
        (name_len,) = struct.unpack_from("<H", blob, pos)
        pos += 2
        name = blob[pos : pos + name_len].decode()
        pos += name_len
        (value_len,) = struct.unpack_from("<I", blob, pos)
        pos += 4
        out.append((name, blob[pos : pos + value_len]))
        pos += value_len
    return tuple(out)


_NO_LENGTH = struct.pack("<i", -1)


def lengths(items: Sequence[bytes | None]) -> list[int]:
    """The lengths of keys or values as stored in a batch: -1 for None.

    Example:
        >>> lengths([b"ab", None, b""])
        [2, -1, 0]
    """
    try:
        return list(map(len, items))  # type: ignore[arg-type]
    except TypeError:  # some are None
        if items.count(None) == len(items):
            return [-1] * len(items)
        return [-1 if i is None else len(i) for i in items]


def _column(items: Sequence[bytes | None], lens: list[int]) -> tuple[bytes, Sequence[bytes]]:
    """The packed lengths and the items to concatenate (the present ones)."""
    n = len(lens)
    nones = lens.count(-1)
    if not nones:
        return struct.pack(f"<{n}i", *lens), items  # type: ignore[return-value]
    if nones == n:
        return _NO_LENGTH * n, ()
    return struct.pack(f"<{n}i", *lens), [i for i in items if i]


class EncodedBatch(NamedTuple):
    """A batch ready to append: its header (patched by :func:`seal`) and its body."""

    header: bytearray
    body: bytes
    record_count: int
    max_timestamp: int

    @property
    def size(self) -> int:
        """Bytes the batch takes in a segment."""
        return HEADER_SIZE + len(self.body)


def encode(
    keys: Sequence[bytes | None],
    values: Sequence[bytes | None],
    timestamps: Sequence[int],
    headers: Sequence[Headers] | None = None,
    *,
    attributes: int = 0,
    offset_deltas: Sequence[int] | None = None,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    delete_horizon: int = 0,
    key_lengths: list[int] | None = None,
    value_lengths: list[int] | None = None,
) -> EncodedBatch:
    """Encode records (parallel sequences) into a batch; the base offset is set by seal().

    ``key_lengths`` and ``value_lengths`` are :func:`lengths` of ``keys`` and ``values``
    when the caller has them already.

    Example:
        >>> batch = encode([b"k", None], [b"v", b"w"], [1, 2])
        >>> batch.record_count, batch.max_timestamp
        (2, 2)
    """
    n = len(keys)
    if n == 0:
        raise ValueError("a record batch needs at least one record")
    parts: list[bytes] = []
    if offset_deltas is not None:
        attributes |= ATTR_SPARSE
        parts.append(struct.pack(f"<{n}I", *offset_deltas))
        last_delta = offset_deltas[-1]
    else:
        last_delta = n - 1
    parts.append(struct.pack(f"<{n}q", *timestamps))
    key_lens, key_data = _column(keys, lengths(keys) if key_lengths is None else key_lengths)
    value_lens, value_data = _column(
        values, lengths(values) if value_lengths is None else value_lengths
    )
    parts.append(key_lens)
    parts.append(value_lens)
    blobs: list[bytes] | None = None
    if headers is not None and any(headers):
        attributes |= ATTR_HEADERS
        blobs = [_encode_headers(h) if h else b"" for h in headers]
        parts.append(struct.pack(f"<{n}I", *[len(b) for b in blobs]))
    # One join for the whole body: each large temporary buffer costs page faults (the
    # allocator hands big blocks back to the OS), which cost more than the copy itself.
    parts.extend(key_data)
    parts.extend(value_data)
    if blobs is not None:
        parts.extend(blobs)
    body = b"".join(parts)
    max_ts = max(timestamps)
    header = bytearray(
        HEADER.pack(
            0,
            HEADER_SIZE + len(body),
            0,
            crc32c(body),
            MAGIC,
            attributes,
            n,
            last_delta,
            max_ts,
            producer_id,
            producer_epoch,
            base_sequence,
            delete_horizon,
        )
    )
    return EncodedBatch(header, body, n, max_ts)


def seal(header: bytearray, base_offset: int) -> None:
    """Set the base offset of an encoded batch header and compute its header CRC."""
    struct.pack_into("<q", header, 0, base_offset)
    crc = crc32c(bytes(header[16:HEADER_SIZE]), crc32c(bytes(header[:12])))
    _CRC_HEAD.pack_into(header, 12, crc)


def parse_header(buf: bytes | memoryview, pos: int) -> BatchHeader:
    """The header at ``pos`` (no check; see :func:`header_ok`)."""
    return BatchHeader._make(HEADER.unpack_from(buf, pos))


def header_ok(buf: bytes | memoryview, pos: int, header: BatchHeader) -> bool:
    """True when the header CRC matches and the fields are sane."""
    if header.magic != MAGIC or header.length < HEADER_SIZE or header.record_count == 0:
        return False
    head = bytes(buf[pos : pos + 12])
    rest = bytes(buf[pos + 16 : pos + HEADER_SIZE])
    return crc32c(rest, crc32c(head)) == header.header_crc


def body_ok(buf: bytes | memoryview, pos: int, header: BatchHeader) -> bool:
    """True when the body CRC matches (the whole batch must be in ``buf``)."""
    return crc32c(buf[pos + HEADER_SIZE : pos + header.length]) == header.body_crc


def _slices(buf: bytes, pos: int, lens: Sequence[int]) -> tuple[Sequence[bytes | None], int]:
    """The keys or values with lengths ``lens`` stored from ``pos``, and the end position."""
    n = len(lens)
    first = lens[0]
    if lens.count(first) == n:  # all of one length: common for keys (ids) and fixed values
        if first < 0:
            return (None,) * n, pos
        # One C call, no per-record Python.
        return struct.unpack_from("<" + f"{first}s" * n, buf, pos), pos + first * n
    out: list[bytes | None] = []
    append = out.append
    for length in lens:
        if length < 0:
            append(None)
        else:
            end = pos + length
            append(buf[pos:end])
            pos = end
    return out, pos


def decode_columns(
    buf: bytes, pos: int, header: BatchHeader
) -> tuple[
    Sequence[int],
    Sequence[int],
    Sequence[bytes | None],
    Sequence[bytes | None],
    Sequence[Headers],
]:
    """(offsets, timestamps, keys, values, headers) of the batch at ``pos``."""
    n = header.record_count
    p = pos + HEADER_SIZE
    attributes = header.attributes
    base = header.base_offset
    offsets: Sequence[int]
    if attributes & ATTR_SPARSE:
        deltas = struct.unpack_from(f"<{n}I", buf, p)
        p += 4 * n
        offsets = [base + d for d in deltas]
    else:
        offsets = range(base, base + n)
    timestamps = struct.unpack_from(f"<{n}q", buf, p)
    p += 8 * n
    key_lens = struct.unpack_from(f"<{n}i", buf, p)
    p += 4 * n
    value_lens = struct.unpack_from(f"<{n}i", buf, p)
    p += 4 * n
    header_lens: tuple[int, ...] | None = None
    if attributes & ATTR_HEADERS:
        header_lens = struct.unpack_from(f"<{n}I", buf, p)
        p += 4 * n
    keys, p = _slices(buf, p, key_lens)
    values, p = _slices(buf, p, value_lens)
    headers: Sequence[Headers]
    if header_lens is None:
        headers = ((),) * n
    else:
        out_headers: list[Headers] = []
        for length in header_lens:
            if length:
                out_headers.append(_decode_headers(buf[p : p + length]))
                p += length
            else:
                out_headers.append(())
        headers = out_headers
    return offsets, timestamps, keys, values, headers


_new = tuple.__new__


def build_records(
    topic: str,
    partition: int,
    offsets: Sequence[int],
    keys: Sequence[bytes | None],
    values: Sequence[bytes | None],
    timestamps: Sequence[int],
    headers: Sequence[Headers],
) -> list[Record]:
    """Records from decoded columns, like :func:`strom.log.types.make_record` (no validation:
    offsets read from a checked batch are valid by construction) but without a Python call
    per record: ``map`` and ``zip`` build them in C, which halves the cost of a record.

    Example:
        >>> build_records("t", 0, range(7, 9), [None, b"k"], [b"a", b"b"], [1, 2], [(), ()])[1]
        Record(topic='t', partition=0, offset=8, key=b'k', value=b'b', timestamp=2, headers=())
    """
    n = len(keys)
    rows = zip(
        repeat(topic, n),
        repeat(partition, n),
        offsets,
        keys,
        values,
        timestamps,
        headers,
        strict=True,
    )
    return list(map(_new, repeat(Record, n), rows))


def first_index(offsets: Sequence[int], min_offset: int) -> int:
    """Index of the first of ascending ``offsets`` that is >= ``min_offset``."""
    if isinstance(offsets, range):
        return min(max(min_offset - offsets.start, 0), len(offsets))
    return bisect_left(offsets, min_offset)


def decode_records(
    buf: bytes, pos: int, header: BatchHeader, topic: str, partition: int, min_offset: int = 0
) -> list[Record]:
    """The records of the batch at ``pos`` with offset >= ``min_offset``."""
    offsets, timestamps, keys, values, headers = decode_columns(buf, pos, header)
    start = first_index(offsets, min_offset)
    if start:
        offsets, timestamps = offsets[start:], timestamps[start:]
        keys, values, headers = keys[start:], values[start:], headers[start:]
    return build_records(topic, partition, offsets, keys, values, timestamps, headers)


def batch_bytes(batch: EncodedBatch) -> bytes:
    """The whole batch as one bytes object (header + body)."""
    return bytes(batch.header) + batch.body


def reencode(
    columns: tuple[Any, ...],
    keep: Sequence[int],
    header: BatchHeader,
    delete_horizon: int,
) -> EncodedBatch:
    """A batch holding records ``keep`` (indexes) of a decoded batch, same base offset.

    Used by compaction: offsets stay as they were (stored as deltas from the base).
    """
    offsets, timestamps, keys, values, headers = columns
    base = header.base_offset
    headers_list = list(headers)
    deltas = [offsets[i] - base for i in keep]
    return encode(
        [keys[i] for i in keep],
        [values[i] for i in keep],
        [timestamps[i] for i in keep],
        [headers_list[i] for i in keep] if header.attributes & ATTR_HEADERS else None,
        attributes=header.attributes & (ATTR_TRANSACTIONAL | ATTR_LOG_APPEND_TIME),
        offset_deltas=deltas,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        delete_horizon=delete_horizon,
    )
