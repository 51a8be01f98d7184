"""Tumbling and hopping windows over a window store: ``[start, end)`` aligned to the epoch.

A record at ``t`` belongs to the windows with ``start <= t < start + size`` on the grid
``offset + k·advance`` (one window when tumbling). It is added to those still open
(``end + grace > watermark``) and is **late** when none is. The store holds the accumulator of
each open window; ``advance`` emits and expires the closed ones.

Example:
    >>> from strom.windows import aggregations as agg, hopping, store_spec
    >>> from strom.windows import WindowedAggregation
    >>> from strom.serde import string
    >>> from strom.state import open_window_store
    >>> spec = store_spec(hopping(10, 5), agg.sum())
    >>> store = open_window_store("w", 0, string(), spec.value_serde,
    ...                           segment_interval=spec.segment_interval)
    >>> op = WindowedAggregation(hopping(10, 5), agg.sum(), store, emit="updates")
    >>> [(r.start, r.end, r.value) for r in op.process("k", 2, 7, watermark=0)]
    [(0, 10, 2), (5, 15, 2)]
"""

from __future__ import annotations

from typing import Any

from strom.state.codec import MAX_TIME, MIN_TIME
from strom.windows.aggregations import Aggregation
from strom.windows.cores.base import TimeCore, clamp
from strom.windows.definitions import Hopping, Tumbling
from strom.windows.results import LATE, Late, WindowResult


class FixedCore(TimeCore):
    """The operator of tumbling and hopping windows (one per task and store partition)."""

    def __init__(
        self,
        window: Tumbling | Hopping,
        aggregation: Aggregation[Any, Any],
        store: Any,
        emit: str,
        grace: int,
    ) -> None:
        super().__init__(aggregation, store, emit, grace)
        self.shift = grace
        self._size = window.size
        self._advance = window.advance if isinstance(window, Hopping) else window.size
        self._offset = window.offset
        self._get = store.get
        self._put = store.put
        if self._advance == self._size:
            self.process = self._process_tumbling  # type: ignore[method-assign]

    def _open_ends(self) -> list[int]:
        return [end for _, _, end, _ in self._store.fetch_all(MIN_TIME, MAX_TIME)]

    def process(
        self, key: Any, value: Any, timestamp: int, watermark: int
    ) -> list[WindowResult] | Late:
        """Add one record to its open windows (hopping)."""
        if watermark > self._watermark:
            self._watermark = watermark
        closed = self._watermark - self._grace  # a window ending at or before this is closed
        size = self._size
        start = timestamp - (timestamp - self._offset) % self._advance
        if start + size <= closed:
            self.late_records += 1
            return LATE
        lowest = timestamp - size
        get, put, add, init = self._get, self._put, self._add, self._init
        changed: list[tuple[int, int, Any]] = []
        while start > lowest:
            end = start + size
            if end <= closed:
                break  # this window and every earlier one have closed
            acc = get(key, start, end)
            if acc is None:
                acc = init()
                self._index.add(end)
            acc = add(acc, value)
            put(key, start, end, acc)
            if self._updates:
                changed.append((start, end, acc))
            start -= self._advance
        if not changed:
            return []
        output = self._output
        return [WindowResult(key, s, e, output(a), e - 1) for s, e, a in reversed(changed)]

    def _process_tumbling(
        self, key: Any, value: Any, timestamp: int, watermark: int
    ) -> list[WindowResult] | Late:
        """Add one record to its window (tumbling): the hot path."""
        if watermark > self._watermark:
            self._watermark = watermark
        start = timestamp - (timestamp - self._offset) % self._size
        end = start + self._size
        if end + self._grace <= self._watermark:
            self.late_records += 1
            return LATE
        acc = self._get(key, start, end)
        if acc is None:
            acc = self._init()
            self._index.add(end)
        acc = self._add(acc, value)
        self._put(key, start, end, acc)
        if self._updates:
            return [WindowResult(key, start, end, self._output(acc), end - 1)]
        return []

    def _closed(self, after: int, through: int) -> list[WindowResult]:
        size, output = self._size, self._output
        # end = start + size, so the store's order by start is the emit order by end.
        return [
            WindowResult(key, start, end, output(acc), end - 1)
            for key, start, end, acc in self._store.fetch_all(
                clamp(after + 1 - size), clamp(through - size)
            )
            if after < end <= through
        ]
