"""Count windows over a key-value store: per key, every ``n`` records form one window.

The store keeps, per key, ``(records of the key so far, accumulator of the window in
progress)``. The ``n``-th record of a window emits its result (in both emit modes; ``"updates"``
also emits after every other record) and leaves ``(count, None)``. A window's ``start`` and
``end`` are record indexes of the key (``[k·n, (k+1)·n)``); its timestamp is that of the
record that produced the result. No time, no watermark, nothing is late; a window that never
gets its ``n``-th record never emits.

Example:
    >>> from strom.windows import aggregations as agg, count, store_spec
    >>> from strom.windows import WindowedAggregation
    >>> from strom.serde import string
    >>> from strom.state import open_key_value_store
    >>> spec = store_spec(count(2), agg.collect())
    >>> store = open_key_value_store("c", 0, string(), spec.value_serde)
    >>> op = WindowedAggregation(count(2), agg.collect(), store)
    >>> op.process("k", "a", 10, watermark=0), op.process("k", "b", 12, watermark=0)
    ([], [WindowResult(key='k', start=0, end=2, value=['a', 'b'], timestamp=12, tombstone=False)])
"""

from __future__ import annotations

from typing import Any

from strom.windows.aggregations import Aggregation
from strom.windows.definitions import Count
from strom.windows.results import Late, WindowResult


class CountCore:
    """The operator of count windows (one per task and store partition)."""

    next_close: int | None = None
    late_records = 0

    def __init__(
        self, window: Count, aggregation: Aggregation[Any, Any], store: Any, emit: str
    ) -> None:
        self._n = window.n
        self._get = store.get
        self._put = store.put
        self._init = aggregation.init
        self._add = aggregation.add
        self._output = aggregation.output
        self._updates = emit == "updates"
        self.watermark = 0

    def load(self) -> None:
        """Nothing to resume: the store holds everything."""

    def process(
        self, key: Any, value: Any, timestamp: int, watermark: int
    ) -> list[WindowResult] | Late:
        """Count one record; emit the window it completes (or, ``"updates"``, its progress)."""
        stored = self._get(key)
        if stored is None:
            seq, acc = 0, None
        else:
            seq, acc = stored
        acc = self._add(self._init() if acc is None else acc, value)
        start = seq - seq % self._n
        seq += 1
        end = start + self._n
        if seq == end:
            self._put(key, (seq, None))
            return [WindowResult(key, start, end, self._output(acc), timestamp)]
        self._put(key, (seq, acc))
        if self._updates:
            return [WindowResult(key, start, end, self._output(acc), timestamp)]
        return []

    def advance(self, watermark: int) -> list[WindowResult]:
        """Nothing closes with time."""
        return []
