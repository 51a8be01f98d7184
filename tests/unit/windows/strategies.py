"""Hypothesis strategies: window definitions, aggregations and runs (records in arrival order
with the watermark before each, ``advance`` calls between them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from strom import windows
from strom.windows import NO_WATERMARK
from strom.windows import aggregations as agg
from strom.windows.aggregations import Aggregation
from tests.unit.windows.reference import Call

KINDS = ["tumbling", "hopping", "sliding", "session", "count"]
# "ab" sorts between "a" and "b" as bytes: emit order is by key bytes. One key makes the
# most interactions between windows; several test the order and the keys' independence.
KEY_SETS = st.sampled_from([["a"], ["a", "b"], ["a", "b", "ab", "c"]])


def _double_into(acc: list[int], value: int) -> list[int]:
    acc.append(2 * value)  # changes the accumulator in place, like collect
    return acc


def _concat(a: list[int], b: list[int]) -> list[int]:
    a.extend(b)
    return a


AGGREGATIONS: dict[str, Any] = {
    "collect": agg.collect,
    "count": agg.count,
    "sum": agg.sum,
    "mean": agg.mean,
    "min": agg.min,
    "max": lambda: agg.max(lambda v: -v),
    "first": agg.first,
    "last": agg.last,
    "custom": lambda: agg.aggregate(list, _double_into, merge=_concat, result=tuple),
}
# collect shows every record and its order: it is the strongest check, so most runs use it.
AGGREGATION_NAMES = st.sampled_from(["collect"] * 6 + sorted(AGGREGATIONS))


def window_of(kind: str) -> st.SearchStrategy[Any]:
    """Small windows, so that random times overlap them, close them and come late."""
    if kind == "tumbling":
        return st.integers(1, 20).flatmap(
            lambda size: st.builds(windows.tumbling, st.just(size), st.integers(-30, 30))
        )
    if kind == "hopping":
        return st.integers(1, 20).flatmap(
            lambda size: st.builds(
                windows.hopping, st.just(size), st.integers(1, size), st.integers(-30, 30)
            )
        )
    if kind == "sliding":
        return st.builds(windows.sliding, st.integers(1, 15))
    if kind == "session":
        return st.builds(windows.session, st.integers(1, 15))
    return st.builds(windows.count, st.integers(1, 5))


@dataclass
class Scenario:
    """One run: a window, an aggregation name, grace, the calls, checkpoints, a restart."""

    window: Any
    aggregation: str
    grace: int
    calls: list[Call]
    flushes: frozenset[int]
    restart_at: int | None

    def make_aggregation(self) -> Aggregation[Any, Any]:
        """A fresh aggregation object (operator and reference never share one)."""
        return AGGREGATIONS[self.aggregation]()  # type: ignore[no-any-return]


@st.composite
def scenarios(draw: st.DrawFn, kind: str, *, restart: bool = True) -> Scenario:
    """Records at random times (some far out of order: late), watermark = the largest time
    seen - an allowed out-of-orderness, ``advance`` after random records and at the end."""
    window = draw(window_of(kind))
    grace = 0 if kind == "count" else draw(st.integers(0, 8))
    out_of_order = draw(st.sampled_from([0, 0, 0, 1, 3, 6, 12]))
    # Times: around the largest time so far (many records out of order by less than a
    # window: late for some windows, on time for others), a random walk that drifts forward,
    # or uniform (mostly late after the first records).
    mode = draw(st.integers(0, 5))
    if mode >= 3:
        times = [draw(st.integers(-20, 20))]
        for _ in range(draw(st.integers(0, 39))):
            times.append(max(times) + draw(st.integers(-25, 5)))
    elif mode >= 1:
        first = draw(st.integers(-20, 20))
        steps = draw(st.lists(st.integers(-8, 10), min_size=0, max_size=39))
        times = [first]
        for step in steps:
            times.append(times[-1] + step)
    else:
        times = draw(st.lists(st.integers(-20, 70), min_size=1, max_size=40))
    keys = st.sampled_from(draw(KEY_SETS))
    records = [(draw(keys), t) for t in times]
    calls: list[Call] = []
    top: int | None = None
    for i, (key, t) in enumerate(records):
        watermark = NO_WATERMARK if top is None else top - out_of_order
        calls.append(Call("process", watermark, key, i, t))
        top = t if top is None else max(top, t)
        if draw(st.integers(0, 3)) == 0:
            calls.append(Call("advance", top - out_of_order))
    assert top is not None
    calls.append(Call("advance", draw(st.sampled_from([top - out_of_order, top + 100]))))
    flushes = frozenset(draw(st.sets(st.integers(0, len(calls) - 1), max_size=4)))
    restart_at = draw(st.none() | st.integers(0, len(calls) - 1)) if restart else None
    return Scenario(window, draw(AGGREGATION_NAMES), grace, calls, flushes, restart_at)
