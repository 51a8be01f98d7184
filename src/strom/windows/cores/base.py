"""What the time-window operators share: the watermark they have seen, closing windows at
``advance``, expiry, and starting again from a restored store.

A window closes when the watermark reaches ``end + shift`` (``shift`` = grace for
``[start, end)`` windows, ``1 + grace`` for sliding windows whose end is inclusive,
``gap + grace`` for sessions whose end is their last record). ``advance(w)`` closes the
windows with ``end <= w - shift``: it emits their final results (emit mode ``"final"``) in the
order (end, key bytes, start), then expires them in the store. How far it has closed is the
store's expiry horizon (``expired_before = bound - lag + 1``; ``lag`` is how long closed
windows stay: 0, or ``2·size + 1`` for sliding windows), so a restored store says where to
resume.

Example:
    >>> from strom.windows import aggregations as agg, tumbling, store_spec
    >>> from strom.windows import WindowedAggregation
    >>> from strom.serde import string
    >>> from strom.state import open_window_store
    >>> spec = store_spec(tumbling(10), agg.count())
    >>> store = open_window_store("w", 0, string(), spec.value_serde,
    ...                           segment_interval=spec.segment_interval)
    >>> op = WindowedAggregation(tumbling(10), agg.count(), store)
    >>> op.process("k", "v", 3, watermark=0), op.next_close
    ([], 10)
    >>> op.advance(9), op.advance(10)
    ([], [WindowResult(key='k', start=0, end=10, value=1, timestamp=9, tombstone=False)])
"""

from __future__ import annotations

from typing import Any

from strom.state.codec import MAX_TIME, MIN_TIME
from strom.windows.aggregations import Aggregation
from strom.windows.cores.index import EndIndex
from strom.windows.results import WindowResult

NO_WATERMARK = MIN_TIME
"""The watermark before any record (``-2**63``)."""


def clamp(time: int) -> int:
    """``time`` inside the range a store accepts (signed 64 bits)."""
    return MIN_TIME if time < MIN_TIME else MAX_TIME if time > MAX_TIME else time


class TimeCore:
    """Base of the tumbling/hopping, sliding and session operators (one per task)."""

    shift: int
    lag: int = 0

    def __init__(self, aggregation: Aggregation[Any, Any], store: Any, emit: str, grace: int):
        self._store = store
        self._aggregation = aggregation
        self._init = aggregation.init
        self._add = aggregation.add
        self._output = aggregation.output
        self._updates = emit == "updates"
        self._grace = grace
        self._watermark = NO_WATERMARK
        self._emitted = NO_WATERMARK  # windows ending at or before this have closed
        self._index = EndIndex()
        self.late_records = 0

    # -- start ---------------------------------------------------------------------------

    def load(self) -> None:
        """Resume from the store's contents (after its restore): the horizon, the open ends."""
        horizon = self._store.expired_before
        if horizon is not None:
            self._emitted = max(self._emitted, horizon + self.lag - 1)
            self._watermark = max(self._watermark, self._emitted + self.shift)
        self._index.clear()
        for end in self._open_ends():
            self._index.add(end)

    def _open_ends(self) -> list[int]:
        """The end of every window in the store that has not closed."""
        raise NotImplementedError

    # -- closing -------------------------------------------------------------------------

    @property
    def watermark(self) -> int:
        """The largest watermark seen (process or advance), or the one implied by the store."""
        return self._watermark

    @property
    def next_close(self) -> int | None:
        """The watermark at which the next window closes (None: no open window)."""
        first = self._index.first()
        return None if first is None else first + self.shift

    def advance(self, watermark: int) -> list[WindowResult]:
        """Close the windows the watermark has passed; their final results (emit ``final``)."""
        if watermark > self._watermark:
            self._watermark = watermark
        bound = self._watermark - self.shift
        if bound <= self._emitted:
            return []
        if not self._index.pop_through(bound):
            self._emitted = bound
            return []
        results = [] if self._updates else self._closed(self._emitted, bound)
        self._store.expire(clamp(bound - self.lag + 1))
        self._emitted = bound
        return results

    def _closed(self, after: int, through: int) -> list[WindowResult]:
        """Final results of the windows with ``after < end <= through``, in emit order."""
        raise NotImplementedError
