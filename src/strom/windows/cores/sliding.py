"""Sliding windows (Kafka Streams' ``SlidingWindows``) over a window store.

Per key, each record at ``t`` defines the window ``[t - size, t]`` (both ends inclusive), and
the window ``[t + 1, t + 1 + size]`` exists when a later record falls in it: one window per
distinct, non-empty set of records. Aggregates cannot be subtracted, so a new window's
accumulator is a copy of a neighbour's holding the same records (the algorithm of Kafka
Streams' ``KStreamSlidingWindowAggregate``):

- the new left window ``[t - size, t]`` copies the latest window ending before ``t`` when the
  key's previous record lies within ``size`` of ``t``, and adds the record;
- the previous record ``p``'s right window ``[p + 1, p + 1 + size]``, if missing, holds only
  this record;
- the new right window ``[t + 1, t + 1 + size]`` copies the latest window holding ``t`` and a
  later record (before this record is added to it).

A window closes when the watermark reaches ``end + 1 + grace``. A record is **late** when no
open window would hold it. A record whose own window has closed but that belongs to later
windows still open is not late (as in Kafka Streams): it goes into those. For the copies to
hold every record, each stored window keeps the accumulator of *all* the records inside its
bounds, also after it closed, and closed windows stay ``2·size + 1`` ms of watermark as
sources. So each stored value is ``(largest record time, accumulator, alive, frozen)``:
``alive`` is False for a window that was already closed when its records first defined it
(it exists only as a source, and is never output); ``frozen`` is the accumulator a window had
when it closed, kept when a later record changed it before ``advance`` emitted it.

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

Slide = tuple[int, Any, bool, Any]
"""A stored sliding window: (largest record time, accumulator, alive, frozen or None)."""


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
        self.lag = 2 * window.size + 1
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
            for _, _, end, stored in self._store.fetch_all(
                clamp(self._emitted + 1 - size), MAX_TIME - size
            )
            if end > self._emitted and stored[2]
        ]

    def process(
        self, key: Any, value: Any, timestamp: int, watermark: int
    ) -> list[WindowResult] | Late:
        """Add one record: update the windows holding it, create the windows it defines."""
        if watermark > self._watermark:
            self._watermark = watermark
        t, size = timestamp, self._size
        closed = self._watermark - self.shift  # a window ending at or before this has closed
        if t + size <= closed:  # even the last window that could hold t has closed
            self.late_records += 1
            return LATE
        rows: list[tuple[int, int, Slide]] = self._fetch(key, clamp(t - 2 * size), clamp(t + 1))
        left_src: Slide | None = None  # the latest window ending before t
        right_src: Slide | None = None  # the latest window holding t and ending after it
        at_t: Slide | None = None  # the window ending at t
        right_exists = False
        holding: list[tuple[int, int, Slide]] = []
        lands = False  # does the record go into an open window that is output?
        for row in rows:  # by start, which is by end
            start, end, stored = row
            if end < t:
                left_src = stored
            elif start > t:
                right_exists = True  # start == t + 1: this record's right window
            else:
                holding.append(row)
                if end > closed and stored[2]:
                    lands = True
                if end == t:
                    at_t = stored
                else:
                    right_src = stored
        # Windows to create, holding t: (start, end, accumulator to copy or None, alive).
        new: list[tuple[int, int, Any, bool]] = []
        right: Slide | None = None
        if at_t is None or at_t[0] != t:  # else a record at t came before: all windows exist
            # The key's latest record before t, as the windows say.
            prev = at_t[0] if at_t is not None else None if left_src is None else left_src[0]
            if at_t is None:
                # The left window [t - size, t]: the records of the latest window ending before
                # t that lie within reach (all of them, when the previous record does).
                base = left_src[1] if left_src is not None and left_src[0] >= t - size else None
                new.append((t - size, t, base, t > closed))
            # The previous record's right window [prev + 1, prev + 1 + size] holds t; if it is
            # missing, no other record is in it. (prev < t - size: it is the left window.)
            if (
                prev is not None
                and prev >= t - size
                and not any(start == prev + 1 for start, _, _ in rows)
            ):
                new.append((prev + 1, prev + 1 + size, None, prev + 1 + size > closed))
            if not right_exists and right_src is not None and right_src[0] > t:
                right = right_src
        if not lands and not any(alive for _, _, _, alive in new):
            self.late_records += 1
            return LATE
        return self._apply(key, value, t, closed, holding, new, right)

    def _apply(
        self,
        key: Any,
        value: Any,
        t: int,
        closed: int,
        holding: list[tuple[int, int, Slide]],
        new: list[tuple[int, int, Any, bool]],
        right: Slide | None,
    ) -> list[WindowResult]:
        add, put, copy, index_add = self._add, self._put, self._copy, self._index.add
        size = self._size
        # The record's right window [t + 1, t + 1 + size] copies its source before the record
        # is added to the source. It holds a later record, so it is open: alive.
        right_acc = None if right is None else copy(right[1])
        freeze = not self._updates
        emitted = self._emitted
        changed: list[tuple[int, int, Any]] = []
        for start, end, (last, acc, alive, frozen) in holding:
            is_open = end > closed
            if freeze and alive and not is_open and frozen is None and end > emitted:
                frozen = copy(acc)  # closed, not emitted yet: keep the value it closed with
            acc = add(acc, value)  # closed windows too: they stay complete, as sources
            put(key, start, end, (last if last > t else t, acc, alive, frozen))
            if alive and is_open:
                changed.append((start, end, acc))
        for start, end, base, alive in new:
            acc = add(self._init() if base is None else copy(base), value)
            put(key, start, end, (t, acc, alive, None))
            if alive:
                index_add(end)
                changed.append((start, end, acc))
        if right is not None:
            put(key, t + 1, t + 1 + size, (right[0], right_acc, True, None))
            index_add(t + 1 + size)
            changed.append((t + 1, t + 1 + size, right_acc))
        if not self._updates:
            return []
        changed.sort(key=_by_start)
        output = self._output
        return [WindowResult(key, s, e, output(a), e) for s, e, a in changed]

    def _closed(self, after: int, through: int) -> list[WindowResult]:
        size, output = self._size, self._output
        return [
            WindowResult(key, start, end, output(acc if frozen is None else frozen), end)
            for key, start, end, (_, acc, alive, frozen) in self._store.fetch_all(
                clamp(after + 1 - size), clamp(through - size)
            )
            if alive and after < end <= through
        ]


def _by_start(row: tuple[int, int, Any]) -> int:
    return row[0]
