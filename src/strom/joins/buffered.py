"""The core of windowed stream-stream and interval joins: both sides buffered in window stores.

Each side keeps its records in a :class:`~strom.state.WindowStore` keyed by the record key,
one entry per (key, timestamp) with ``start = end = timestamp`` holding a
:class:`~strom.joins.codec.Buffered` list (see :mod:`strom.joins.codec` for why a list).
A record first joins the other side's buffered records in its window, then waits in its own
side's store for the other side's records still to come.

Time (``W`` = the watermark the runtime passes, ``g`` = grace; the left side's window reaches
``after`` past its records, the right side's ``before``, written ``ahead`` below):

- a record at ``t`` is **late** when ``t + g < W``: it is not joined nor stored, and the result
  says so (the runtime counts it, drops it or sends it to the late side output);
- a buffered record's window **closes** when ``W > t + ahead + g`` (its window
  ``[.., t + ahead]`` as ``[.., t + ahead + 1)`` closes when the watermark reaches end + grace,
  the definition of ``STATE_AND_TIME.md``). Every record that could still join it would be
  late, so the store may drop it, and an unmatched record of an outer side (left join: the
  left side; outer join: both) is emitted with None then — exactly once, and never when a
  match arrived before.

The in-memory index of unmatched records (to emit them at the right watermark without
scanning the stores) is rebuilt from the stores when a core is built, so a new core over
restored stores continues exactly; emitted records are deleted from their store, so a restart
never emits them twice. Expiry (garbage collection) runs every ``expire_every`` ms of
watermark progress (default: the definition's ``segment_interval``, the granularity at which
the store can drop data anyway): records past their close are never read again.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from strom.errors import ConfigError
from strom.joins.codec import Buffered
from strom.joins.definitions import Interval, JoinWindows
from strom.joins.types import Output, check_how, check_joiner
from strom.state.protocols import WindowStore

K = TypeVar("K")
R = TypeVar("R")

MIN_TIME = -(1 << 63)
MAX_TIME = (1 << 63) - 1


class JoinResult(NamedTuple, Generic[K, R]):
    """What processing one record produced.

    ``outputs``: joined records, then (after a watermark advance) records whose window
    closed unmatched. ``late``: the record was behind the watermark by more than the grace,
    so it was neither joined nor stored (the outputs can still hold closings).
    """

    outputs: list[Output[K, R]]
    late: bool


class _Side:
    """One input of the join: its store, how far its window reaches, its unmatched index."""

    __slots__ = ("ahead", "behind", "expired_to", "heap", "is_left", "pending", "store", "tracked")

    def __init__(
        self, store: WindowStore[Any, Any], ahead: int, behind: int, tracked: bool, is_left: bool
    ) -> None:
        self.store = store
        self.ahead = ahead  # the other side's records join up to t + ahead
        self.behind = behind  # ... and from t - behind
        self.tracked = tracked  # unmatched records of this side are emitted
        self.is_left = is_left
        self.pending: dict[tuple[Any, int], None] = {}
        self.heap: list[tuple[int, int, Any]] = []
        horizon = store.expired_before
        self.expired_to = MIN_TIME if horizon is None else horizon


class BufferedJoin(Generic[K, R]):
    """Windowed join of two keyed streams over two window stores (see module doc).

    Subclasses fix the definition: :class:`~strom.joins.WindowedJoin` (inner, left, outer
    over :class:`~strom.joins.JoinWindows`) and :class:`~strom.joins.IntervalJoin` (inner,
    left over an :class:`~strom.joins.Interval`).
    """

    _kind = "windowed join"
    _hows: tuple[str, ...] = ("inner", "left", "outer")

    def __init__(
        self,
        left_store: WindowStore[K, Buffered[Any]],
        right_store: WindowStore[K, Buffered[Any]],
        joiner: Callable[[Any, Any], R],
        definition: JoinWindows | Interval,
        how: str,
        expire_every: int | None = None,
    ) -> None:
        where = self._kind
        check_joiner(joiner, where)
        self.how = check_how(how, self._hows, where)
        if expire_every is not None and (type(expire_every) is not int or expire_every <= 0):
            raise ConfigError(
                f"{where}: expire_every must be an int of ms > 0, got {expire_every!r}"
            )
        self.definition = definition
        self._joiner = joiner
        self._grace = definition.grace
        self._step = definition.segment_interval if expire_every is None else expire_every
        self._left = _Side(
            left_store, definition.after, definition.before, how in ("left", "outer"), True
        )
        self._right = _Side(right_store, definition.before, definition.after, how == "outer", False)
        self._watermark: int | None = None
        self._seq = 0
        for side in (self._left, self._right):
            if side.tracked:
                self._index(side)

    def _index(self, side: _Side) -> None:
        """Rebuild a side's index of unmatched records from its store (a new core)."""
        for key, start, _end, entry in side.store.fetch_all(MIN_TIME, MAX_TIME):
            if not entry.matched:
                side.pending[(key, start)] = None
                side.heap.append((start, self._seq, key))  # fetch_all is by start: a heap
                self._seq += 1

    @property
    def watermark(self) -> int | None:
        """The highest watermark seen (None before the first)."""
        return self._watermark

    @property
    def deadline(self) -> int | None:
        """The lowest watermark at which :meth:`advance` may emit something (None: nothing
        waits). Cheap: the runtime may skip ``advance`` below it."""
        grace = self._grace
        marks = [
            side.heap[0][0] + side.ahead + grace + 1
            for side in (self._left, self._right)
            if side.heap
        ]
        return min(marks) if marks else None

    def expire(self) -> None:
        """Expire everything the watermark has closed, now rather than at the next step.

        Call it before a checkpoint: the stores' expiry horizons then say exactly which
        watermark they reflect (:meth:`restored_watermark`).
        """
        watermark = self._watermark
        if watermark is None:
            return
        for side in (self._left, self._right):
            bound = watermark - side.ahead - self._grace
            if bound > side.expired_to:
                side.store.expire(bound)
                side.expired_to = bound

    def restored_watermark(self) -> int | None:
        """The lowest watermark the stores' contents imply (None: nothing expired yet).

        Exact when :meth:`expire` ran before the stores were committed; otherwise up to one
        expiry step (``segment_interval``) behind. The runtime starts the restored task's
        watermark there at least, so that what had closed stays closed.
        """
        marks = [
            horizon + side.ahead + self._grace
            for side in (self._left, self._right)
            if (horizon := side.store.expired_before) is not None
        ]
        return max(marks) if marks else None

    def reset(self) -> None:
        """The stores dropped their uncommitted writes (``discard``, a rewind): rebuild the
        in-memory index from them and forget the watermark (the next call brings the
        runtime's, rewound too)."""
        self._watermark = None
        for side in (self._left, self._right):
            side.pending.clear()
            side.heap.clear()
            horizon = side.store.expired_before
            side.expired_to = MIN_TIME if horizon is None else horizon
            if side.tracked:
                self._index(side)

    def process_left(
        self, key: K, value: Any, timestamp: int, watermark: int | None
    ) -> JoinResult[K, R]:
        """Advance to ``watermark``, then join a left record and buffer it."""
        return self._process(self._left, self._right, key, value, timestamp, watermark)

    def process_right(
        self, key: K, value: Any, timestamp: int, watermark: int | None
    ) -> JoinResult[K, R]:
        """Advance to ``watermark``, then join a right record and buffer it."""
        return self._process(self._right, self._left, key, value, timestamp, watermark)

    def advance(self, watermark: int | None) -> list[Output[K, R]]:
        """Move the watermark forward (never back): emit the records whose window closed
        unmatched, ordered by timestamp (left before right on a tie), and expire old ones."""
        if watermark is None or (self._watermark is not None and watermark <= self._watermark):
            return []
        self._watermark = watermark
        left = self._close(self._left, watermark)
        right = self._close(self._right, watermark)
        if not right:
            return left
        if not left:
            return right
        both = left + right
        both.sort(key=_timestamp)  # stable: left first among equal timestamps
        return both

    def _close(self, side: _Side, watermark: int) -> list[Output[K, R]]:
        bound = watermark - side.ahead - self._grace  # entries before it are closed
        out: list[Output[K, R]] = []
        if side.tracked:
            heap, pending, store = side.heap, side.pending, side.store
            joiner, is_left = self._joiner, side.is_left
            while heap and heap[0][0] < bound:
                timestamp, _, key = heapq.heappop(heap)
                if (key, timestamp) not in pending:
                    continue  # matched since
                del pending[(key, timestamp)]
                entry = store.get(key, timestamp, timestamp)
                if entry is None or entry.matched:
                    continue
                for value in entry.values:
                    joined = joiner(value, None) if is_left else joiner(None, value)
                    out.append(Output(key, joined, timestamp))
                store.delete(key, timestamp, timestamp)
        if bound - side.expired_to >= self._step:
            side.store.expire(bound)
            side.expired_to = bound
        return out

    def _process(
        self,
        side: _Side,
        other: _Side,
        key: K,
        value: Any,
        timestamp: int,
        watermark: int | None,
    ) -> JoinResult[K, R]:
        out = self.advance(watermark)
        current, grace = self._watermark, self._grace
        if current is not None and timestamp + grace < current:
            return JoinResult(out, True)
        joiner, is_left = self._joiner, side.is_left
        if key is None:  # can never match: an outer side emits it at once
            if side.tracked:
                joined = joiner(value, None) if is_left else joiner(None, value)
                out.append(Output(key, joined, timestamp))
            return JoinResult(out, False)
        rows = other.store.fetch(
            key, max(timestamp - side.behind, MIN_TIME), min(timestamp + side.ahead, MAX_TIME)
        )
        if rows:
            append = out.append
            for other_ts, _, entry in rows:
                at = timestamp if timestamp >= other_ts else other_ts
                if is_left:
                    for other_value in entry.values:
                        append(Output(key, joiner(value, other_value), at))
                else:
                    for other_value in entry.values:
                        append(Output(key, joiner(other_value, value), at))
                if other.tracked and not entry.matched:
                    other.store.put(key, other_ts, other_ts, Buffered(True, entry.values))
                    other.pending.pop((key, other_ts), None)
        if current is not None and current > timestamp + side.ahead + grace:
            # Only with an interval whose window ends before the record: already closed.
            if side.tracked and not rows:
                joined = joiner(value, None) if is_left else joiner(None, value)
                out.append(Output(key, joined, timestamp))
            return JoinResult(out, False)
        store = side.store
        entry = store.get(key, timestamp, timestamp)
        matched = bool(rows)
        if entry is None:
            store.put(key, timestamp, timestamp, Buffered(matched, (value,)))
        else:
            store.put(
                key,
                timestamp,
                timestamp,
                Buffered(matched or entry.matched, (*entry.values, value)),
            )
        if side.tracked and not matched and (key, timestamp) not in side.pending:
            side.pending[(key, timestamp)] = None
            heapq.heappush(side.heap, (timestamp, self._seq, key))
            self._seq += 1
        return JoinResult(out, False)


def _timestamp(output: Output[Any, Any]) -> int:
    return output.timestamp
