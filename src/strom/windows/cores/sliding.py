"""Sliding windows (Kafka Streams' ``SlidingWindows``) over a window store.

Per key, each record at ``t`` defines the window ``[t - size, t]`` (both ends inclusive), and
the window ``[t + 1, t + 1 + size]`` exists when a later record falls in it. So there is one
window per distinct, non-empty set of records, and a window's result is the aggregate of the
records inside its bounds. Aggregates cannot be subtracted, so a new window's accumulator is a
copy of a neighbour's with the same records (the algorithm of Kafka Streams'
``KStreamSlidingWindowAggregate``):

- the new left window ``[t - size, t]`` copies the latest window ending before ``t``, when
  the key's previous record lies within ``size`` of ``t``, and adds the record;
- the previous record ``p``'s right window ``[p + 1, p + 1 + size]``, if missing, holds only
  this record;
- the new right window ``[t + 1, t + 1 + size]`` copies the latest window holding ``t`` and a
  later record (before adding this one).

A window closes when the watermark reaches ``end + 1 + grace``. A record is **late** when its
own window ``[t - size, t]`` has closed: then every window holding it has closed too, and a
copy can never miss a record (``docs/windows.md`` explains why this differs from Kafka
Streams). Closed windows stay in the store ``size + 1`` ms of watermark longer, as sources of
copies. Each stored value is ``(largest record time, accumulator)``.

Example:
    >>> from strom.windows import aggregations as agg, sliding, store_spec
    >>> from strom.windows import WindowedAggregation
    >>> from strom.serde import string
    >>> from strom.state import open_window_store
    >>> spec = store_spec(sliding(10), agg.collect())
    >>> store = open_window_store("s", 0, string(), spec.value_serde,
    ...                           segment_interval=spec.segment_interval)
    >>> op = WindowedAggregation(sliding(10), agg.collect(), store, emit="updates")
    >>> [(r.start, r.end, r.value) for r in op.process("k", "a", 100, watermark=0)]
    [(90, 100, ['a'])]
    >>> [(r.start, r.end, r.value) for r in op.process("k", "b", 105, watermark=100)]
    [(95, 105, ['a', 'b']), (101, 111, ['b'])]
    >>> [(r.start, r.end, r.value) for r in op.process("k", "c", 103, watermark=100)]
    [(93, 103, ['a', 'c']), (95, 105, ['a', 'b', 'c']), (101, 111, ['b', 'c']), (104, 114, ['b'])]
"""

from __future__ import annotations

from typing import Any

from strom.state.codec import MAX_TIME
from strom.windows.aggregations import Aggregation
from strom.windows.cores.base import TimeCore, clamp
from strom.windows.definitions import Sliding
from strom.windows.results import LATE, Late, WindowResult


class SlidingCore(TimeCore):
    """The operator of sliding windows (one per task and store partition)."""

    def __init__(
        self,
        window: Sliding,
        aggregation: Aggregation[Any, Any],
        store: Any,
        emit: str,
        grace: int,
    ) -> None:
        super().__init__(aggregation, store, emit, grace)
        self._size = window.size
        self.shift = 1 + grace
        self.lag = window.size
        self._fetch = store.fetch
        self._put = store.put
        self._ser = aggregation.serde.serialize
        self._de = aggregation.serde.deserialize

    def _copy(self, acc: Any) -> Any:
        # A new window never shares its neighbour's accumulator (add may change it in place).
        return self._de(self._ser(acc))

    def _open_ends(self) -> list[int]:
        size = self._size
        return [
            end
            for _, _, end, _ in self._store.fetch_all(
                clamp(self._emitted + 1 - size), MAX_TIME - size
            )
            if end > self._emitted
        ]

    def process(
        self, key: Any, value: Any, timestamp: int, watermark: int
    ) -> list[WindowResult] | Late:
        """Add one record: update the windows holding it, create the windows it defines."""
        if watermark > self._watermark:
            self._watermark = watermark
        t, size = timestamp, self._size
        if t + 1 + self._grace <= self._watermark:
            self.late_records += 1
            return LATE
        rows = self._fetch(key, clamp(t - 2 * size), clamp(t + 1))  # by start, = by end
        left_src: tuple[int, Any] | None = None  # latest window ending before t
        right_src: tuple[int, Any] | None = None  # latest window holding t, ending after t
        left_max: int | None = None  # largest record time of the window ending at t
        right_exists = False
        holding: list[tuple[int, int, tuple[int, Any]]] = []
        for start, end, stored in rows:
            if end < t:
                left_src = stored
            elif start > t:
                right_exists = True  # start == t + 1: this record's right window
            else:
                holding.append((start, end, stored))
                if end == t:
                    left_max = stored[0]
                else:
                    right_src = stored
        created: list[tuple[int, int, tuple[int, Any]]] = []
        if left_max != t:  # else a record at t came before: its windows all exist
            # The key's latest record before t, when a window says so.
            prev = left_max if left_max is not None else None if left_src is None else left_src[0]
            if left_max is None:
                # The left window [t - size, t]: the previous record's window's records within
                # reach, plus this one (added below).
                if prev is not None and prev >= t - size:
                    acc = self._copy(left_src[1])  # type: ignore[index]
                else:
                    acc = self._init()
                created.append((t - size, t, (t, acc)))
            # The previous record's right window [prev + 1, prev + 1 + size] holds t; if it is
            # missing, no other record is in it. (prev < t - size: it is the left window.)
            if (
                prev is not None
                and prev >= t - size
                and not any(start == prev + 1 for start, _, _ in rows)
            ):
                created.append((prev + 1, prev + 1 + size, (t, self._init())))
            if not right_exists and right_src is not None and right_src[0] > t:
                right = (t + 1, t + 1 + size, (right_src[0], self._copy(right_src[1])))
            else:
                right = None
        else:
            right = None
        add, put, index_add = self._add, self._put, self._index.add
        changed: list[tuple[int, int, Any]] = []
        for start, end, (last, acc) in holding:
            acc = add(acc, value)
            put(key, start, end, (last if last > t else t, acc))
            changed.append((start, end, acc))
        for start, end, (last, acc) in created:
            acc = add(acc, value)
            put(key, start, end, (last, acc))
            index_add(end)
            changed.append((start, end, acc))
        if right is not None:
            start, end, stored = right
            put(key, start, end, stored)
            index_add(end)
            changed.append((start, end, stored[1]))
        if not self._updates:
            return []
        changed.sort(key=_by_start)
        output = self._output
        return [WindowResult(key, s, e, output(a), e) for s, e, a in changed]

    def _closed(self, after: int, through: int) -> list[WindowResult]:
        size, output = self._size, self._output
        return [
            WindowResult(key, start, end, output(stored[1]), end)
            for key, start, end, stored in self._store.fetch_all(
                clamp(after + 1 - size), clamp(through - size)
            )
            if after < end <= through
        ]


def _by_start(row: tuple[int, int, Any]) -> int:
    return row[0]
