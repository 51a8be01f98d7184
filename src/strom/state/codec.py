"""Byte layouts of window and session entries: in storage, and in the changelog (format 1).

**Changelog** (stable, versioned by the first byte of the key):

- data record: key = ``0x01 | key bytes | start (8 bytes) | end (8 bytes)``, value = the
  serialized value (None: tombstone). Times are signed 64-bit big-endian epoch ms; the key
  bytes are what remains between the version byte and the last 16 bytes.
- control record: key = ``0x00 | b"expire"``, value = ``before`` (signed 64-bit big-endian):
  every entry ending before ``before`` is gone. One record per ``expire``, not one tombstone
  per window; compaction keeps the latest, and restore applies it where it stands.

**Storage** (local layout; changing it only needs a new identity ``layout`` version):

- data: ``0x01 | segment (8) | escaped key bytes | 0x00 0x01 | start (8) | end (8)`` with
  ``segment = end // segment_interval``; times and segment as unsigned big-endian of
  ``value + 2**63`` so that byte order is numeric order. Key bytes are escaped
  (``0x00`` -> ``0x00 0xFF``) and terminated by ``0x00 0x01``: order-preserving and
  prefix-free, so one key's entries are contiguous inside a segment, ordered by start.
- metadata: ``0x00 | name`` (the expiry horizon, the longest window span seen).

Example:
    >>> from strom.state.codec import changelog_key, parse_changelog_key
    >>> changelog_key(b"user-1", 0, 60_000)
    b'\\x01user-1\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xea`'
    >>> parse_changelog_key(changelog_key(b"user-1", 0, 60_000))
    (b'user-1', 0, 60000)
"""

from __future__ import annotations

import struct

FORMAT_VERSION = 1
"""Version of the changelog encoding of window and session stores."""

LAYOUT_VERSION = 1
"""Version of the local storage layout (part of a RocksDB store's identity)."""

DATA = b"\x01"
"""First byte of data records (changelog format 1) and of storage data keys."""
META = b"\x00"
"""First byte of control records (changelog) and of storage metadata keys."""

EXPIRE_KEY = META + b"expire"
"""Changelog control record: value = the new expiry horizon."""

META_EXPIRED = META + b"expired_before"
"""Storage metadata: the committed expiry horizon."""
META_SPAN = META + b"max_span"
"""Storage metadata: the longest ``end - start`` ever stored (bounds the segments a query
by start must read)."""

TERM = b"\x00\x01"
FLIP = 1 << 63
MIN_TIME = -(1 << 63)
MAX_TIME = (1 << 63) - 1

_q = struct.Struct(">q")
_qq = struct.Struct(">qq")
_Q = struct.Struct(">Q")
_QQ = struct.Struct(">QQ")

pack_time = _q.pack
unpack_time = _q.unpack
pack_bounds = _qq.pack
"""(start, end) as in a changelog key."""
pack_flipped_bounds = _QQ.pack
"""(start + 2**63, end + 2**63) as in a storage key."""


def escape(key: bytes) -> bytes:
    """Order-preserving, prefix-free form of ``key`` (see module doc)."""
    return key.replace(b"\x00", b"\x00\xff") + TERM


def unescape(escaped: bytes) -> bytes:
    """The key bytes of an escaped key (without its terminator)."""
    return escaped.replace(b"\x00\xff", b"\x00")


def changelog_key(key: bytes, start: int, end: int) -> bytes:
    """The changelog key of one window or session."""
    return DATA + key + _qq.pack(start, end)


def parse_changelog_key(record_key: bytes) -> tuple[bytes, int, int]:
    """(key bytes, start, end) of a data record; ValueError when it is not one."""
    if len(record_key) < 17 or record_key[:1] != DATA:
        raise ValueError(
            f"not a format-{FORMAT_VERSION} window/session changelog key: {record_key[:40]!r}"
        )
    start, end = _qq.unpack_from(record_key, len(record_key) - 16)
    return record_key[1:-16], start, end


def segment_prefix(segment: int) -> bytes:
    """The first storage key of ``segment``."""
    return DATA + _Q.pack(segment + FLIP)


def storage_key(segment: int, escaped_key: bytes, start: int, end: int) -> bytes:
    """The storage key of one entry."""
    return DATA + _Q.pack(segment + FLIP) + escaped_key + _QQ.pack(start + FLIP, end + FLIP)


def start_bound(prefix: bytes, start: int) -> bytes:
    """The first storage key under ``prefix`` (segment + escaped key) with this start."""
    return prefix + _Q.pack(min(max(start, MIN_TIME), MAX_TIME) + FLIP)


def after_start(prefix: bytes, start: int) -> bytes:
    """A bound just past every entry under ``prefix`` with this start or an earlier one."""
    if start >= MAX_TIME:
        return prefix + b"\xff" * 17
    return start_bound(prefix, start + 1)


def parse_storage_key(key: bytes) -> tuple[int, bytes, int, int]:
    """(segment, key bytes, start, end) of a storage data key."""
    start, end = _QQ.unpack_from(key, len(key) - 16)
    return (
        _Q.unpack_from(key, 1)[0] - FLIP,
        unescape(key[9:-18]),
        start - FLIP,
        end - FLIP,
    )


def parse_bounds(key: bytes) -> tuple[int, int]:
    """(start, end) of a storage data key."""
    start, end = _QQ.unpack_from(key, len(key) - 16)
    return start - FLIP, end - FLIP


def parse_segment(key: bytes) -> int:
    """The segment of a storage data key."""
    segment: int = _Q.unpack_from(key, 1)[0] - FLIP
    return segment
