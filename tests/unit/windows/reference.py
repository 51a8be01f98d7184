"""A batch computation of windowed aggregations, from the definitions, for the property tests.

Written apart from the operator and as plainly as possible: every window keeps the list of its
records (values in arrival order) and its result is ``aggregation.fold(records)``; windows are
found by scanning lists. Only session merging uses the aggregation's ``merge`` (that is the
definition of a merged session's value). No store, no index, no copying of accumulators.

The input is the whole run: records in arrival order, each with the watermark the task had
before it, and the ``advance`` calls between them. The output is what the operator must return
for each call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strom.windows import Count, Hopping, Session, Sliding, Tumbling, WindowResult
from strom.windows.aggregations import Aggregation


@dataclass(frozen=True)
class Call:
    """One call to the operator: a record (``process``) or ``advance``."""

    op: str  # "process" or "advance"
    watermark: int
    key: str = ""
    value: Any = None
    timestamp: int = 0


@dataclass
class Expected:
    """What each call must return: a list of results, or "LATE"."""

    outputs: list[Any] = field(default_factory=list)


def _key_bytes(key: str) -> bytes:
    return key.encode()


def _emit_order(result: WindowResult) -> tuple[int, bytes, int]:
    return (result.end, _key_bytes(result.key), result.start)


def reference(
    window: Any, aggregation: Aggregation[Any, Any], emit: str, grace: int, calls: list[Call]
) -> list[Any]:
    """The output of every call (a list of WindowResult, or the string "LATE")."""
    if isinstance(window, Tumbling | Hopping):
        return _fixed(window, aggregation, emit, grace, calls)
    if isinstance(window, Sliding):
        return _sliding(window, aggregation, emit, grace, calls)
    if isinstance(window, Session):
        return _sessions(window, aggregation, emit, grace, calls)
    assert isinstance(window, Count)
    return _count(window, aggregation, emit, calls)


# -- tumbling and hopping -----------------------------------------------------------------


def _fixed_windows(window: Tumbling | Hopping, t: int) -> list[tuple[int, int]]:
    advance = window.advance if isinstance(window, Hopping) else window.size
    found = []
    k = (t - window.size - window.offset) // advance - 2
    while window.offset + k * advance <= t:
        start = window.offset + k * advance
        if start <= t < start + window.size:
            found.append((start, start + window.size))
        k += 1
    return found


def _fixed(
    window: Tumbling | Hopping, aggregation: Aggregation[Any, Any], emit: str, grace: int,
    calls: list[Call],
) -> list[Any]:  # fmt: skip
    records: dict[tuple[str, int, int], list[Any]] = {}  # window -> values, arrival order
    emitted: set[tuple[str, int, int]] = set()
    out: list[Any] = []
    seen = -(2**63)
    for call in calls:
        seen = max(seen, call.watermark)
        if call.op == "advance":
            closed = [
                WindowResult(k, s, e, aggregation.fold(v), e - 1)
                for (k, s, e), v in records.items()
                if (k, s, e) not in emitted and e + grace <= seen
            ]
            emitted.update((r.key, r.start, r.end) for r in closed)
            out.append([] if emit == "updates" else sorted(closed, key=_emit_order))
            continue
        open_windows = [
            (s, e) for s, e in _fixed_windows(window, call.timestamp) if e + grace > seen
        ]
        if not open_windows:
            out.append("LATE")
            continue
        changed = []
        for s, e in open_windows:
            records.setdefault((call.key, s, e), []).append(call.value)
            changed.append(
                WindowResult(call.key, s, e, aggregation.fold(records[(call.key, s, e)]), e - 1)
            )
        out.append(sorted(changed, key=lambda r: r.start) if emit == "updates" else [])
    return out


# -- sliding --------------------------------------------------------------------------------


def _sliding(
    window: Sliding, aggregation: Aggregation[Any, Any], emit: str, grace: int, calls: list[Call]
) -> list[Any]:
    size = window.size
    # Per key: accepted records as (time, value, watermark at arrival), in arrival order.
    accepted: dict[str, list[tuple[int, Any, int]]] = {}
    alive: dict[str, set[tuple[int, int]]] = {}  # windows that exist (entered while open)
    dead: dict[str, set[tuple[int, int]]] = {}  # windows that entered the set already closed
    emitted: set[tuple[str, int, int]] = set()
    out: list[Any] = []
    seen = -(2**63)

    def is_open(end: int) -> bool:
        return end + 1 + grace > seen

    def window_set(records: list[tuple[int, Any, int]]) -> set[tuple[int, int]]:
        times = [t for t, _, _ in records]
        windows = {(t - size, t) for t in times}
        for t in times:
            if any(t < u <= t + 1 + size for u in times):
                windows.add((t + 1, t + 1 + size))
        return windows

    def content(key: str, start: int, end: int) -> list[Any]:
        # The key's accepted records inside the bounds that arrived while the window was open.
        return [v for t, v, w in accepted.get(key, []) if start <= t <= end and w < end + 1 + grace]

    for call in calls:
        seen = max(seen, call.watermark)
        if call.op == "advance":
            closed = [
                WindowResult(k, s, e, aggregation.fold(content(k, s, e)), e)
                for k, windows in alive.items()
                for s, e in windows
                if (k, s, e) not in emitted and not is_open(e)
            ]
            emitted.update((r.key, r.start, r.end) for r in closed)
            out.append([] if emit == "updates" else sorted(closed, key=_emit_order))
            continue
        t, key = call.timestamp, call.key
        records = accepted.setdefault(key, [])
        before = alive.setdefault(key, set()) | dead.setdefault(key, set())
        new = window_set([*records, (t, call.value, seen)]) - before
        born = {(s, e) for s, e in new if is_open(e)}
        if not any(s <= t <= e and is_open(e) for s, e in alive[key] | born):
            out.append("LATE")  # no open window would hold it
            continue
        records.append((t, call.value, seen))
        alive[key] |= born
        dead[key] |= new - born
        changed = [
            WindowResult(key, s, e, aggregation.fold(content(key, s, e)), e)
            for s, e in sorted(alive[key])
            if (s, e) in new or (s <= t <= e and is_open(e))
        ]
        out.append(changed if emit == "updates" else [])
    return out


# -- sessions -------------------------------------------------------------------------------


@dataclass
class _Session:
    key: str
    start: int
    end: int
    acc: Any
    alive: bool = True
    emitted: bool = False


def _sessions(
    window: Session, aggregation: Aggregation[Any, Any], emit: str, grace: int, calls: list[Call]
) -> list[Any]:
    gap = window.gap
    assert aggregation.merge is not None
    sessions: list[_Session] = []
    out: list[Any] = []
    seen = -(2**63)
    for call in calls:
        seen = max(seen, call.watermark)
        if call.op == "advance":
            closed = [
                s for s in sessions if s.alive and not s.emitted and s.end + gap + grace <= seen
            ]
            for s in closed:
                s.emitted = True
            results = [
                WindowResult(s.key, s.start, s.end, aggregation.output(s.acc), s.end)
                for s in closed
            ]
            out.append([] if emit == "updates" else sorted(results, key=_emit_order))
            continue
        t, key = call.timestamp, call.key
        joined = sorted(
            (
                s
                for s in sessions
                if s.key == key
                and s.alive
                and s.end + gap + grace > seen  # open
                and s.end > t - gap
                and s.start < t + gap
            ),
            key=lambda s: (s.start, s.end),
        )
        if not joined and t + gap + grace <= seen:  # its session [t, t] is closed already
            out.append("LATE")
            continue
        if not joined:
            new = _Session(key, t, t, aggregation.add(aggregation.init(), call.value))
            sessions.append(new)
            out.append(
                [WindowResult(key, t, t, aggregation.output(new.acc), t)]
                if emit == "updates"
                else []
            )
            continue
        acc = joined[0].acc
        for other in joined[1:]:
            acc = aggregation.merge(acc, other.acc)
        acc = aggregation.add(acc, call.value)
        start = min(t, *(s.start for s in joined))
        end = max(t, *(s.end for s in joined))
        results = []
        for s in joined:
            s.alive = False
            if (s.start, s.end) != (start, end):
                results.append(WindowResult(key, s.start, s.end, None, s.end, True))
        sessions.append(_Session(key, start, end, acc))
        results.append(WindowResult(key, start, end, aggregation.output(acc), end))
        out.append(results if emit == "updates" else [])
    return out


# -- count ----------------------------------------------------------------------------------


def _count(
    window: Count, aggregation: Aggregation[Any, Any], emit: str, calls: list[Call]
) -> list[Any]:
    values: dict[str, list[Any]] = {}
    out: list[Any] = []
    for call in calls:
        if call.op == "advance":
            out.append([])
            continue
        seen = values.setdefault(call.key, [])
        seen.append(call.value)
        start = (len(seen) - 1) // window.n * window.n
        result = WindowResult(
            call.key, start, start + window.n, aggregation.fold(seen[start:]), call.timestamp
        )
        out.append([result] if emit == "updates" or len(seen) == start + window.n else [])
    return out
