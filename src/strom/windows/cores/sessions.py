"""Session windows over a session store: per key, records closer than ``gap`` in one session.

A session is ``[first, last]`` (its first and last record times, both inclusive). A record at
``t`` joins every open session of its key within reach (``last > t - gap`` and
``first < t + gap``): none → a new session ``[t, t]``; one → that session grows; several → they
merge, accumulators joined with ``merge(earlier, later)`` in start order, then the record is
added. A session closes when the watermark reaches ``last + gap + grace``; a closed session
never changes, so a record near it starts a new one. A record is **late** when the session it
would make is closed: it joins no open session and ``t + gap + grace <= watermark``.

With emit ``"updates"``, a record emits a tombstone for each session that merged away (its
bounds changed), then the new session's result.

Example:
    >>> from strom.windows import aggregations as agg, session, store_spec
    >>> from strom.windows import WindowedAggregation
    >>> from strom.serde import string
    >>> from strom.state import open_session_store
    >>> spec = store_spec(session(10), agg.count())
    >>> store = open_session_store("s", 0, string(), spec.value_serde,
    ...                            segment_interval=spec.segment_interval)
    >>> op = WindowedAggregation(session(10), agg.count(), store, emit="updates")
    >>> op.process("u", "a", 100, watermark=0)
    [WindowResult(key='u', start=100, end=100, value=1, timestamp=100, tombstone=False)]
    >>> [(r.start, r.end, r.value) for r in op.process("u", "b", 115, watermark=0)]
    [(115, 115, 1)]
    >>> [(r.start, r.end, r.value, r.tombstone) for r in op.process("u", "c", 108, watermark=0)]
    [(100, 100, None, True), (115, 115, None, True), (100, 115, 3, False)]
"""

from __future__ import annotations

from typing import Any

from strom.errors import ConfigError
from strom.state.codec import MAX_TIME, MIN_TIME
from strom.windows.aggregations import Aggregation
from strom.windows.cores.base import TimeCore, clamp
from strom.windows.definitions import Session
from strom.windows.results import LATE, Late, WindowResult


class SessionCore(TimeCore):
    """The operator of session windows (one per task and store partition)."""

    def __init__(
        self,
        window: Session,
        aggregation: Aggregation[Any, Any],
        store: Any,
        emit: str,
        grace: int,
    ) -> None:
        if aggregation.merge is None:
            raise ConfigError(
                f"session windows need an aggregation that can merge two sessions: give "
                f"{aggregation.name!r} a merge(a, b) function (aggregate(..., merge=...))"
            )
        super().__init__(aggregation, store, emit, grace)
        self._gap = window.gap
        self.shift = window.gap + grace
        self._merge = aggregation.merge
        self._find = store.find_sessions
        self._put = store.put
        self._remove = store.remove

    def _open_ends(self) -> list[int]:
        return [end for _, _, end, _ in self._store.fetch_all(MIN_TIME, MAX_TIME)]

    def process(
        self, key: Any, value: Any, timestamp: int, watermark: int
    ) -> list[WindowResult] | Late:
        """Add one record: join, grow or merge the open sessions within ``gap``."""
        if watermark > self._watermark:
            self._watermark = watermark
        t, gap = timestamp, self._gap
        closed = self._watermark - self.shift  # a session ending at or before this is closed
        # (No shortcut for very late records: an open session may reach back any distance.)
        found = [
            row
            for row in self._find(key, clamp(t - gap + 1), clamp(t + gap - 1))
            if row[1] > closed
        ]
        index = self._index
        if not found:
            if t <= closed:  # its own session [t, t] would be closed already
                self.late_records += 1
                return LATE
            acc = self._add(self._init(), value)
            self._put(key, t, t, acc)
            index.add(t)
            return [WindowResult(key, t, t, self._output(acc), t)] if self._updates else []
        start, end, acc = found[0]
        if len(found) > 1:
            merge = self._merge
            for _, _, other in found[1:]:
                acc = merge(acc, other)
            end = max(row[1] for row in found)
        new_start = start if start < t else t
        new_end = end if end > t else t
        acc = self._add(acc, value)
        gone: list[WindowResult] = []
        for old_start, old_end, _ in found:
            index.remove(old_end)
            if old_start != new_start or old_end != new_end:
                self._remove(key, old_start, old_end)
                if self._updates:
                    gone.append(WindowResult(key, old_start, old_end, None, old_end, True))
        self._put(key, new_start, new_end, acc)
        index.add(new_end)
        if not self._updates:
            return []
        gone.append(WindowResult(key, new_start, new_end, self._output(acc), new_end))
        return gone

    def _closed(self, after: int, through: int) -> list[WindowResult]:
        output = self._output
        return [
            WindowResult(key, start, end, output(acc), end)
            for key, start, end, acc in self._store.fetch_all(clamp(after + 1), clamp(through))
        ]
