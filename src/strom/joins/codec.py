"""How the cores' values sit in their stores: serdes that wrap the user's value serde.

- **Table values** (:func:`stamped_serde`): ``timestamp (int64 BE) | value bytes``, the value
  and the event time of the update that set it (Kafka Streams' ``ValueAndTimestamp`` layout).
  The timestamp is what table-table joins need for their output time.
- **Join buffers** (:func:`buffer_serde`): the records one side of a windowed join keeps per
  (key, timestamp), as ``0x01 | matched (1 byte) | frames``, each frame
  ``length (uint32 BE) | value bytes`` (length ``0xFFFFFFFF``: a None value). A list, not one
  store entry per record: the window store's key is (key, start, end) and ``fetch`` is per
  exact key, so a sequence number would have to live in ``start`` or ``end`` and would shift
  the time that fetch ranges, segments and expiry use; with a list, records with the same key
  and timestamp — which always match the same other-side records — share one entry and one
  ``matched`` flag.

Example:
    >>> from strom.serde import string
    >>> from strom.joins.codec import Buffered, Stamped, buffer_serde, stamped_serde
    >>> stamped_serde(string()).serialize(Stamped("pro", 5))
    b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x05pro'
    >>> serde = buffer_serde(string())
    >>> serde.deserialize(serde.serialize(Buffered(True, ("a", None))))
    Buffered(matched=True, values=('a', None))
"""

from __future__ import annotations

import struct
from typing import Generic, NamedTuple, TypeVar

from strom.errors import SerializationError
from strom.serde.base import Serde

V = TypeVar("V")

_TIME = struct.Struct(">q")
_LENGTH = struct.Struct(">I")
_NONE = 0xFFFFFFFF
_BUFFER_VERSION = 1


class Stamped(NamedTuple, Generic[V]):
    """A table's value for one key and the event time (epoch ms) of the update that set it."""

    value: V
    timestamp: int


class Buffered(NamedTuple, Generic[V]):
    """What one side of a windowed join keeps per (key, timestamp).

    ``values`` in arrival order; ``matched`` once any other-side record joined them (records
    with the same key and timestamp have the same join window, so they match together).
    """

    matched: bool
    values: tuple[V | None, ...]


class StampedSerde(Generic[V]):
    """:class:`Stamped` values: 8-byte big-endian timestamp, then the value's bytes."""

    __slots__ = ("_de", "_ser", "name")

    def __init__(self, value_serde: Serde[V]) -> None:
        self._ser = value_serde.serialize
        self._de = value_serde.deserialize
        self.name = f"stamped({value_serde.name})"

    def serialize(self, value: Stamped[V] | None) -> bytes | None:
        """Timestamp and value bytes; None for None."""
        if value is None:
            return None
        data = self._ser(value.value)
        if data is None:
            raise SerializationError(f"{self.name}: a table value must not serialize to None")
        return _TIME.pack(value.timestamp) + data

    def deserialize(self, data: bytes | None) -> Stamped[V] | None:
        """The :class:`Stamped` value of ``data``; None for None."""
        if data is None:
            return None
        if len(data) < 8:
            raise SerializationError(
                f"{self.name}: {len(data)} bytes is too short for a timestamped table value"
            )
        return Stamped(self._de(data[8:]), _TIME.unpack_from(data)[0])  # type: ignore[arg-type]


class BufferSerde(Generic[V]):
    """:class:`Buffered` entries of a windowed join side (layout in the module doc)."""

    __slots__ = ("_de", "_ser", "name")

    def __init__(self, value_serde: Serde[V]) -> None:
        self._ser = value_serde.serialize
        self._de = value_serde.deserialize
        self.name = f"join-buffer({value_serde.name})"

    def serialize(self, entry: Buffered[V] | None) -> bytes | None:
        """Version, matched flag and one frame per value; None for None."""
        if entry is None:
            return None
        parts = [bytes((_BUFFER_VERSION, 1 if entry.matched else 0))]
        ser, pack = self._ser, _LENGTH.pack
        for value in entry.values:
            data = None if value is None else ser(value)
            if data is None:
                parts.append(pack(_NONE))
            else:
                parts.append(pack(len(data)))
                parts.append(data)
        return b"".join(parts)

    def deserialize(self, data: bytes | None) -> Buffered[V] | None:
        """The :class:`Buffered` entry of ``data``; None for None."""
        if data is None:
            return None
        if len(data) < 2 or data[0] != _BUFFER_VERSION:
            raise SerializationError(
                f"{self.name}: not a version-{_BUFFER_VERSION} join buffer entry: {data[:16]!r}"
            )
        values: list[V | None] = []
        de, unpack = self._de, _LENGTH.unpack_from
        at, size = 2, len(data)
        while at < size:
            if at + 4 > size:
                raise SerializationError(f"{self.name}: truncated join buffer entry")
            (length,) = unpack(data, at)
            at += 4
            if length == _NONE:
                values.append(None)
                continue
            if at + length > size:
                raise SerializationError(f"{self.name}: truncated join buffer entry")
            values.append(de(data[at : at + length]))
            at += length
        return Buffered(data[1] == 1, tuple(values))


def stamped_serde(value_serde: Serde[V]) -> StampedSerde[V]:
    """The serde of a table store's values, wrapping the table's value serde.

    Open the table's key-value store with it: ``open_key_value_store(name, partition,
    key_serde, stamped_serde(value_serde), ...)``.
    """
    return StampedSerde(value_serde)


def buffer_serde(value_serde: Serde[V]) -> BufferSerde[V]:
    """The serde of a windowed join side's window store, wrapping that side's value serde."""
    return BufferSerde(value_serde)


def table_changelog_record(
    key: bytes, value: bytes | None, timestamp: int
) -> tuple[bytes, bytes | None]:
    """A topic record as a table store's changelog record, for ``store.restore``.

    A source table (or a global table) can be restored from its own topic instead of a
    changelog: each record's value gains its timestamp; a tombstone stays a tombstone.

    Example:
        >>> table_changelog_record(b"u1", b"pro", 7)
        (b'u1', b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x07pro')
    """
    return key, None if value is None else _TIME.pack(timestamp) + value
