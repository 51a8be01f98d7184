"""Value types of the log layer: records, partitions, topic descriptions, delivery results.

Time is integer epoch milliseconds everywhere inside strom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from strom.errors import ConfigError

Headers = tuple[tuple[str, bytes], ...]
"""Record headers: ordered (name, value) pairs; names may repeat, as in Kafka."""

HeadersInput = Sequence[tuple[str, bytes | str]] | Mapping[str, bytes | str] | None
"""What producers accept as headers: pairs or a mapping; str values are UTF-8 encoded."""

IsolationLevel = Literal["read_committed", "read_uncommitted"]
OffsetReset = Literal["earliest", "latest", "error"]

OFFSET_BEGINNING = -2
"""Sentinel offset for :meth:`Consumer.seek`: the first retained record."""
OFFSET_END = -1
"""Sentinel offset for :meth:`Consumer.seek`: after the last record."""


class TopicPartition(NamedTuple):
    """One partition of one topic.

    Example:
        >>> TopicPartition("orders", 3)
        TopicPartition(topic='orders', partition=3)
    """

    topic: str
    partition: int


class _RecordFields(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: Headers = ()


class Record(_RecordFields):
    """An immutable record read from a log.

    A tuple underneath (a NamedTuple), because building one per record is the largest
    per-record cost of reading: a tuple is built several times faster than a frozen dataclass.

    Attributes:
        topic: topic it was read from.
        partition: partition it was read from.
        offset: its offset in the partition.
        key: key bytes, or None.
        value: value bytes, or None (a tombstone on compacted topics).
        timestamp: epoch milliseconds (producer create time unless the topic says otherwise).
        headers: ordered (name, bytes) pairs.

    Example:
        >>> r = Record("t", 0, 5, b"k", b"v", 1700000000000)
        >>> r.with_value(b"w").value
        b'w'
    """

    __slots__ = ()

    def __new__(
        cls,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp: int,
        headers: Headers = (),
    ) -> Record:
        if partition < 0 or offset < 0:
            raise ConfigError(
                f"record partition and offset must be >= 0, got partition={partition} "
                f"offset={offset}"
            )
        return tuple.__new__(cls, (topic, partition, offset, key, value, timestamp, headers))

    @property
    def topic_partition(self) -> TopicPartition:
        """The record's (topic, partition)."""
        return TopicPartition(self[0], self[1])

    def header(self, name: str) -> bytes | None:
        """The last value of header ``name``, or None."""
        for key, value in reversed(self.headers):
            if key == name:
                return value
        return None

    def with_value(self, value: bytes | None) -> Record:
        """A copy with another value."""
        return self._replace(value=value)

    def with_key(self, key: bytes | None) -> Record:
        """A copy with another key."""
        return self._replace(key=key)

    def with_headers(self, headers: Headers) -> Record:
        """A copy with other headers."""
        return self._replace(headers=headers)


def make_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    timestamp: int,
    headers: Headers,
) -> Record:
    """Build a Record without validation: for backends, whose offsets are valid by construction.

    Example:
        >>> make_record("t", 0, 1, None, b"v", 0, ()) == Record("t", 0, 1, None, b"v", 0)
        True
    """
    return _tuple_new(Record, (topic, partition, offset, key, value, timestamp, headers))


def start_offsets(
    wanted: Sequence[TopicPartition], at: Mapping[TopicPartition, int] | None, action: str
) -> dict[TopicPartition, int]:
    """``assign(at=)``'s start offsets, checked: each for a partition in ``wanted``, each an
    offset, ``OFFSET_BEGINNING`` or ``OFFSET_END``.

    Example:
        >>> tp = TopicPartition("t", 0)
        >>> start_offsets([tp], {("t", 0): 5}, "assign")
        {TopicPartition(topic='t', partition=0): 5}
    """
    starts = {TopicPartition(*tp): offset for tp, offset in (at or {}).items()}
    for tp, offset in starts.items():
        if tp not in wanted:
            raise ConfigError(
                f"{action} failed: a start offset is given for {tp.topic}[{tp.partition}], "
                "which is not among the partitions assigned"
            )
        if offset < 0 and offset not in (OFFSET_BEGINNING, OFFSET_END):
            raise ConfigError(
                f"{action} failed: start offset {offset} of {tp.topic}[{tp.partition}] is invalid"
            )
    return starts


_tuple_new = tuple.__new__


@dataclass(frozen=True, slots=True)
class RecordMetadata:
    """Where the log stored a produced record (the delivery result)."""

    topic: str
    partition: int
    offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What to create: a topic name, its partition count and per-topic configs.

    Configs use Kafka's names (``retention.ms``, ``retention.bytes``, ``cleanup.policy``,
    ``segment.bytes``, ...) on both logs.
    """

    name: str
    partitions: int = 1
    config: Mapping[str, str] = field(default_factory=dict)
    replication_factor: int = 1


@dataclass(frozen=True, slots=True)
class TopicDescription:
    """A topic as the log describes it."""

    name: str
    partitions: int
    config: Mapping[str, str]

    @property
    def compacted(self) -> bool:
        """True when ``cleanup.policy`` includes ``compact``."""
        return "compact" in self.config.get("cleanup.policy", "delete")


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """Committed offset, end offset and lag of one partition for one group."""

    topic: str
    partition: int
    committed: int | None
    end_offset: int
    lag: int


def normalize_headers(headers: HeadersInput) -> Headers:
    """Turn user-given headers into the canonical tuple of (str, bytes) pairs.

    Example:
        >>> normalize_headers({"a": "1"})
        (('a', b'1'),)
    """
    if not headers:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[str, bytes]] = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise ConfigError(f"header {item!r} is not a (name, value) pair") from None
        if not isinstance(name, str):
            raise ConfigError(f"header name {name!r} must be str")
        if isinstance(value, str):
            value = value.encode()
        elif not isinstance(value, bytes | bytearray | memoryview):
            raise ConfigError(
                f"header {name!r} value must be bytes or str, got {type(value).__name__}"
            )
        out.append((name, bytes(value)))
    return tuple(out)
