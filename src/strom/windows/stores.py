"""Which store a window definition needs: kind, value serde, segment interval and retention.

The runtime opens the store partition of each task from a :class:`StoreSpec` and hands it to
:class:`~strom.windows.WindowedAggregation`:

==================  ==============  ===========================================  ============
definition          store kind      value                                        retention
==================  ==============  ===========================================  ============
tumbling, hopping   window          the accumulator                              size + grace
sliding             window          (largest record time, accumulator, alive,    2·size + 1 +
                                    frozen accumulator)                          grace
session             session         the accumulator                              gap + grace
count               key-value       (records of the key so far, accumulator)     —
==================  ==============  ===========================================  ============

Sliding windows stay in the store ``2·size + 1`` ms of watermark after they close: a window
created later copies its aggregate from them (see :mod:`strom.windows.cores.sliding`).

Example:
    >>> from datetime import timedelta
    >>> from strom import windows
    >>> from strom.windows import aggregations as agg
    >>> spec = windows.store_spec(windows.tumbling(timedelta(minutes=5)), agg.count(),
    ...                           grace=timedelta(seconds=30))
    >>> spec.kind, spec.retention, spec.segment_interval
    ('window', 330000, 165000)
    >>> windows.check_retention(windows.tumbling(60_000), grace=3_600_000, retention=86_400_000)
    >>> windows.check_retention(windows.tumbling(60_000), grace=86_400_000, retention=86_400_000)
    Traceback (most recent call last):
    ...
    strom.errors.ConfigError: a Tumbling(size=60000, offset=0) window with grace 86400000 ms
    needs a store retention of at least 86460000 ms, got 86400000 ms: shorten the grace or ...
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from strom.errors import ConfigError, SerializationError
from strom.serde.base import Serde
from strom.state.types import StoreKind
from strom.windows.aggregations import Aggregation
from strom.windows.definitions import Count, Hopping, Session, Sliding, Tumbling, WindowDefinition
from strom.windows.durations import check_grace, to_millis

MIN_SEGMENT_INTERVAL = 60_000
"""The smallest segment interval chosen (Kafka Streams' floor)."""

_head = struct.Struct(">q")
_HEAD = _head.size


class PairSerde:
    """Stores ``(int, accumulator or None)``: 8 bytes, a presence byte, the accumulator.

    Example:
        >>> from strom.windows.aggregations import MsgpackSerde
        >>> serde = PairSerde(MsgpackSerde())
        >>> serde.deserialize(serde.serialize((1_700_000_000_000, [1, 2])))
        (1700000000000, [1, 2])
        >>> serde.deserialize(serde.serialize((3, None)))
        (3, None)
    """

    __slots__ = ("_de", "_ser", "name")

    def __init__(self, accumulator: Serde[Any]) -> None:
        self.name = f"int+{accumulator.name}"
        self._ser = accumulator.serialize
        self._de = accumulator.deserialize

    def serialize(self, value: tuple[int, Any] | None) -> bytes | None:
        """``int64 BE | 0x00`` or ``int64 BE | 0x01 | accumulator bytes``."""
        if value is None:
            return None
        number, acc = value
        if acc is None:
            return _head.pack(number) + b"\x00"
        data = self._ser(acc)
        if data is None:
            raise SerializationError(f"{self.name}: the accumulator serialized to None")
        return _head.pack(number) + b"\x01" + data

    def deserialize(self, data: bytes | None) -> tuple[int, Any] | None:
        """The ``(int, accumulator or None)`` in ``data``."""
        if data is None:
            return None
        if len(data) <= _HEAD or data[_HEAD] not in (0, 1):
            raise SerializationError(f"{self.name}: malformed stored value {data[:40]!r}")
        number = _head.unpack_from(data)[0]
        return (number, self._de(data[_HEAD + 1 :]) if data[_HEAD] else None)


_slide = struct.Struct(">qBI")
_ALIVE, _FROZEN = 1, 2


class SlideSerde:
    """Stores a sliding window: ``(largest record time, accumulator, alive, frozen or None)``.

    Example:
        >>> from strom.windows.aggregations import MsgpackSerde
        >>> serde = SlideSerde(MsgpackSerde())
        >>> serde.deserialize(serde.serialize((105, [1, 2], True, None)))
        (105, [1, 2], True, None)
        >>> serde.deserialize(serde.serialize((105, [1, 2], False, [1])))
        (105, [1, 2], False, [1])
    """

    __slots__ = ("_de", "_ser", "name")

    def __init__(self, accumulator: Serde[Any]) -> None:
        self.name = f"slide+{accumulator.name}"
        self._ser = accumulator.serialize
        self._de = accumulator.deserialize

    def serialize(self, value: tuple[int, Any, bool, Any] | None) -> bytes | None:
        """``int64 last | flags | uint32 size of acc | acc | frozen``."""
        if value is None:
            return None
        last, acc, alive, frozen = value
        data = self._ser(acc)
        if data is None:
            raise SerializationError(f"{self.name}: the accumulator serialized to None")
        flags = (_ALIVE if alive else 0) | (_FROZEN if frozen is not None else 0)
        head = _slide.pack(last, flags, len(data))
        if frozen is None:
            return head + data
        return head + data + (self._ser(frozen) or b"")

    def deserialize(self, data: bytes | None) -> tuple[int, Any, bool, Any] | None:
        """The stored sliding window in ``data``."""
        if data is None:
            return None
        if len(data) < _slide.size:
            raise SerializationError(f"{self.name}: malformed stored value {data[:40]!r}")
        last, flags, size = _slide.unpack_from(data)
        cut = _slide.size + size
        if flags > _ALIVE | _FROZEN or cut > len(data) or (cut < len(data)) != bool(flags & 2):
            raise SerializationError(f"{self.name}: malformed stored value {data[:40]!r}")
        frozen = self._de(data[cut:]) if flags & _FROZEN else None
        return (last, self._de(data[_slide.size : cut]), bool(flags & _ALIVE), frozen)


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """The store a windowed aggregation needs (see the module's table).

    Attributes:
        kind: ``"window"``, ``"session"`` or ``"key-value"``.
        value_serde: open the store with this value serde (the key serde is the stream's).
        segment_interval: for window and session stores: about half the retention, at least
            :data:`MIN_SEGMENT_INTERVAL`; None for key-value stores.
        retention: ms of event time an entry must be kept after its window's records
            arrived (the changelog topic's ``retention.ms`` must be larger, with a margin);
            None for count windows (a compacted key-value changelog).
    """

    kind: StoreKind
    value_serde: Serde[Any]
    segment_interval: int | None
    retention: int | None


def required_retention(window: WindowDefinition, grace: int | timedelta = 0) -> int | None:
    """How long (ms) the store must keep a window: see the module's table; None for count
    windows.

    Example:
        >>> from strom import windows
        >>> required_retention(windows.sliding(10_000), grace=2_000)
        22001
    """
    grace_ms = check_grace(grace)
    if isinstance(window, Tumbling | Hopping):
        return window.size + grace_ms
    if isinstance(window, Sliding):
        return 2 * window.size + 1 + grace_ms
    if isinstance(window, Session):
        return window.gap + grace_ms
    return None


def store_spec(
    window: WindowDefinition, aggregation: Aggregation[Any, Any], grace: int | timedelta = 0
) -> StoreSpec:
    """The store that ``WindowedAggregation(window, aggregation, store, grace=grace)`` needs.

    Raises:
        ConfigError: a bad grace.
    """
    retention = required_retention(window, grace)
    if isinstance(window, Count):
        return StoreSpec("key-value", PairSerde(aggregation.serde), None, None)
    assert retention is not None
    interval = max(retention // 2, MIN_SEGMENT_INTERVAL)
    if isinstance(window, Session):
        return StoreSpec("session", aggregation.serde, interval, retention)
    if isinstance(window, Sliding):
        return StoreSpec("window", SlideSerde(aggregation.serde), interval, retention)
    return StoreSpec("window", aggregation.serde, interval, retention)


def check_retention(
    window: WindowDefinition, grace: int | timedelta, retention: int | timedelta
) -> None:
    """Refuse a grace period the store's retention cannot hold (call when building the app).

    Args:
        window: the window definition.
        grace: the grace period.
        retention: the store's (changelog topic's) retention.

    Raises:
        ConfigError: ``retention`` is shorter than :func:`required_retention`.
    """
    needed = required_retention(window, grace)
    have = to_millis(retention, "store retention")
    if needed is not None and have < needed:
        raise ConfigError(
            f"a {window!r} window with grace {check_grace(grace)} ms needs a store retention "
            f"of at least {needed} ms, got {have} ms: shorten the grace or raise the retention"
        )
