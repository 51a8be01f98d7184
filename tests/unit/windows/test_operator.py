"""The operator's semantics on small, readable cases: window bounds, the closing watermark,
lateness, result timestamps, emit order, sliding and session edge cases (the property tests
check the same against the reference on random input)."""

from __future__ import annotations

from typing import Any

import pytest

from strom.serde import integer, string
from strom.serde.base import Serde
from strom.state import open_key_value_store, open_session_store, open_window_store
from strom.windows import (
    LATE,
    NO_WATERMARK,
    WindowedAggregation,
    WindowResult,
    count,
    hopping,
    session,
    sliding,
    store_spec,
    tumbling,
)
from strom.windows import aggregations as agg

OPEN = {"window": open_window_store, "session": open_session_store}


def make(
    window: Any,
    aggregation: Any = None,
    *,
    emit: str = "final",
    grace: int = 0,
    key_serde: Serde[Any] | None = None,
) -> tuple[WindowedAggregation, Any]:
    aggregation = aggregation or agg.collect()
    spec = store_spec(window, aggregation, grace)
    if spec.kind == "key-value":
        store = open_key_value_store("s", 0, key_serde or string(), spec.value_serde)
    else:
        store = OPEN[spec.kind](
            "s", 0, key_serde or string(), spec.value_serde,
            segment_interval=spec.segment_interval,
        )  # fmt: skip
    return WindowedAggregation(window, aggregation, store, emit=emit, grace=grace), store


def bounds(results: list[WindowResult]) -> list[tuple[Any, ...]]:
    return [(r.key, r.start, r.end, r.value) for r in results]


# -- tumbling and hopping -------------------------------------------------------------------


def test_tumbling_closes_at_end_plus_grace_and_then_refuses_records() -> None:
    op, _ = make(tumbling(10), grace=3)
    assert op.process("k", "a", 9, NO_WATERMARK) == []
    assert op.next_close == 13
    assert op.advance(12) == []
    # Watermark 12 < 10 + 3: the window [0, 10) still takes a record at 0.
    assert op.process("k", "b", 0, 12) == []
    assert op.advance(13) == [WindowResult("k", 0, 10, ["a", "b"], 9)]
    assert op.process("k", "c", 5, 13) is LATE
    assert op.late_records == 1
    assert op.advance(100) == []  # nothing left, and the late record was never aggregated


def test_tumbling_offset_and_negative_times() -> None:
    op, _ = make(tumbling(10, offset=3), emit="updates")
    assert bounds(op.process("k", 1, 2, NO_WATERMARK)) == [("k", -7, 3, [1])]
    assert bounds(op.process("k", 2, 3, NO_WATERMARK)) == [("k", 3, 13, [2])]


def test_hopping_record_joins_only_its_open_windows() -> None:
    op, _ = make(hopping(10, 5), emit="updates")
    assert bounds(op.process("k", "a", 7, NO_WATERMARK)) == [
        ("k", 0, 10, ["a"]),
        ("k", 5, 15, ["a"]),
    ]
    # Watermark 10: [0, 10) has closed, [5, 15) is open: the record goes there only.
    assert bounds(op.process("k", "b", 8, 10)) == [("k", 5, 15, ["a", "b"])]
    # Watermark 15: both windows of t=9 have closed: late.
    assert op.process("k", "c", 9, 15) is LATE
    assert op.advance(15) == []  # emit "updates": closing emits nothing more
    assert op.next_close is None


def test_finals_come_out_by_end_then_key_bytes_then_start() -> None:
    # Integer keys sort by their serialized bytes: -1 (0xff...) after 2.
    op, _ = make(hopping(10, 5), agg.count(), key_serde=integer())
    for key in (-1, 2):
        op.process(key, None, 7, NO_WATERMARK)
        op.process(key, None, 12, NO_WATERMARK)
    assert [(r.end, r.key, r.start) for r in op.advance(100)] == [
        (10, 2, 0),
        (10, -1, 0),
        (15, 2, 5),
        (15, -1, 5),
        (20, 2, 10),
        (20, -1, 10),
    ]


def test_advance_is_cheap_and_monotone() -> None:
    op, _ = make(tumbling(10))
    op.process("k", "a", 1, NO_WATERMARK)
    assert op.advance(5) == []
    assert op.advance(3) == []  # the watermark never goes back
    assert op.watermark == 5
    assert op.process("k", "b", 2, 0) == []  # a smaller watermark counts as 5: still open
    assert [r.value for r in op.advance(10)] == [["a", "b"]]
    assert op.next_close is None


# -- sliding --------------------------------------------------------------------------------


def test_sliding_emits_one_result_per_distinct_record_set() -> None:
    op, _ = make(sliding(10), grace=100)
    for t in (8, 15, 19):
        op.process("k", t, t, NO_WATERMARK)
    # Left windows [t - 10, t] of 8, 15 and 19 (that of 19 is also the right window of 8:
    # [9, 19] holds 15 and 19), and the right window of 15, [16, 26], which holds 19; 19 has
    # no later record, so no right window. Not a window per millisecond.
    assert bounds(op.advance(1_000)) == [
        ("k", -2, 8, [8]),
        ("k", 5, 15, [8, 15]),
        ("k", 9, 19, [15, 19]),
        ("k", 16, 26, [19]),
    ]
    assert op.advance(2_000) == []


def test_sliding_updates_out_of_order_record_creates_its_right_window() -> None:
    op, _ = make(sliding(10), emit="updates")
    op.process("k", "a", 100, NO_WATERMARK)
    op.process("k", "b", 105, 100)
    # c at 103 arrives after b: it joins [95, 105] and [101, 111], gets its left window
    # [93, 103] (with a) and its right window [104, 114] (with b, copied, without c).
    assert bounds(op.process("k", "c", 103, 100)) == [
        ("k", 93, 103, ["a", "c"]),
        ("k", 95, 105, ["a", "b", "c"]),
        ("k", 101, 111, ["b", "c"]),
        ("k", 104, 114, ["b"]),
    ]


def test_sliding_record_goes_into_the_open_windows_after_its_own_closed() -> None:
    op, _ = make(sliding(10), emit="updates")
    op.process("k", "a", 100, NO_WATERMARK)
    op.process("k", "b", 108, 100)
    # Watermark 105: c's own window [94, 104] has closed, but [98, 108] and [101, 111] hold
    # 104 and are open: c goes there (as in Kafka Streams), and its right window [105, 115]
    # is created with b. [94, 104] exists only as a source for later copies: never output.
    assert bounds(op.process("k", "c", 104, 105)) == [
        ("k", 98, 108, ["a", "b", "c"]),
        ("k", 101, 111, ["b", "c"]),
        ("k", 105, 115, ["b"]),
    ]
    # No open window holds 95: late.
    assert op.process("k", "d", 95, 105) is LATE


def test_sliding_finals_are_the_records_before_the_window_closed() -> None:
    op, _ = make(sliding(10))
    op.process("k", "a", 100, NO_WATERMARK)
    op.process("k", "b", 108, 100)
    # [90, 100] closed at watermark 101; c at 100 arrives before advance emitted it. The
    # window keeps c (a later copy needs it) but its final result is what it closed with.
    assert op.process("k", "c", 100, 105) == []
    assert bounds(op.advance(105)) == [("k", 90, 100, ["a"])]
    assert bounds(op.advance(1_000)) == [
        ("k", 98, 108, ["a", "b", "c"]),
        ("k", 101, 111, ["b"]),
    ]


def test_sliding_closed_windows_keep_taking_records_for_later_copies() -> None:
    op, _ = make(sliding(10), grace=2)
    op.process("k", "a", 100, NO_WATERMARK)
    op.process("k", "z", 108, 100)
    # Watermark 108: [90, 100] has closed. y at 99 is on time for [98, 108], and is added to
    # [90, 100] too (not output again), because x's new window [97, 107] copies [90, 100].
    op.process("k", "y", 99, 108)
    op.process("k", "x", 107, 108)
    assert ("k", 97, 107, ["a", "y", "x"]) in bounds(op.advance(1_000))


def test_sliding_closed_windows_remain_sources_for_copies() -> None:
    # After [90, 100] closed and was emitted, a record at 106 still needs its records: its
    # left window [96, 106] is a copy of the latest window ending before 106.
    op, _ = make(sliding(10), grace=2)
    op.process("k", "a", 100, NO_WATERMARK)
    assert bounds(op.advance(103)) == [("k", 90, 100, ["a"])]
    assert bounds(op.process("k", "b", 106, 103)) == []
    assert bounds(op.advance(1_000)) == [
        ("k", 96, 106, ["a", "b"]),
        ("k", 101, 111, ["b"]),
    ]


# -- sessions -------------------------------------------------------------------------------


def test_session_gap_is_exclusive() -> None:
    op, _ = make(session(10))
    op.process("u", "a", 100, NO_WATERMARK)
    op.process("u", "b", 109, NO_WATERMARK)  # 9 ms after: same session
    op.process("u", "c", 119, NO_WATERMARK)  # 10 ms after: a new session
    assert bounds(op.advance(1_000)) == [("u", 100, 109, ["a", "b"]), ("u", 119, 119, ["c"])]


def test_session_closes_at_last_plus_gap_plus_grace() -> None:
    op, _ = make(session(10), grace=5)
    op.process("u", "a", 100, NO_WATERMARK)
    assert op.next_close == 115
    assert op.advance(114) == []
    assert bounds(op.advance(115)) == [("u", 100, 100, ["a"])]


def test_a_closed_session_never_merges() -> None:
    op, _ = make(session(10))
    op.process("u", "a", 100, NO_WATERMARK)
    op.process("v", "x", 110, 100)  # the watermark reaches 110: [100, 100] closed
    # 105 is within the gap of the closed session, but its own session is open: a new one.
    assert op.process("u", "b", 105, 110) == []
    # 99's own session would be closed, but it joins the open session [105, 105].
    assert op.process("u", "c", 99, 110) == []
    assert op.process("u", "d", 88, 110) is LATE  # closed, and no open session within reach
    assert bounds(op.advance(1_000)) == [
        ("u", 100, 100, ["a"]),
        ("u", 99, 105, ["b", "c"]),
        ("v", 110, 110, ["x"]),
    ]


def test_session_merge_order_and_tombstones() -> None:
    op, _ = make(session(15), emit="updates")
    op.process("u", "late-session", 120, NO_WATERMARK)
    op.process("u", "early-session", 100, NO_WATERMARK)
    # 110 bridges [100, 100] and [120, 120]: tombstones for both, then the merged session,
    # the earlier session's values first, then the record.
    assert [(r.start, r.end, r.value, r.tombstone) for r in op.process("u", "m", 110, 0)] == [
        (100, 100, None, True),
        (120, 120, None, True),
        (100, 120, ["early-session", "late-session", "m"], False),
    ]
    # A record inside a session changes no bounds: no tombstone.
    assert [(r.start, r.end, r.tombstone) for r in op.process("u", "n", 115, 0)] == [
        (100, 120, False)
    ]


# -- count ----------------------------------------------------------------------------------


@pytest.mark.parametrize("emit", ["final", "updates"])
def test_count_windows_per_key(emit: str) -> None:
    op, _ = make(count(2), emit=emit)
    outputs = [op.process(k, v, t, NO_WATERMARK) for k, v, t in
               [("a", 1, 10), ("b", 2, 11), ("a", 3, 12), ("a", 4, 13), ("a", 5, 14)]]  # fmt: skip
    first = [WindowResult("a", 0, 2, [1, 3], 12)]
    second = [WindowResult("a", 2, 4, [4, 5], 14)]
    if emit == "final":
        assert outputs == [[], [], first, [], second]
    else:
        assert outputs == [
            [WindowResult("a", 0, 2, [1], 10)],
            [WindowResult("b", 0, 2, [2], 11)],
            first,
            [WindowResult("a", 2, 4, [4], 13)],
            second,
        ]
    assert op.advance(10**9) == []
    assert op.next_close is None


# -- results are values, not views of accumulators -------------------------------------------


def test_update_results_do_not_change_afterwards() -> None:
    op, _ = make(tumbling(10), agg.collect(), emit="updates")
    first = op.process("k", "a", 1, NO_WATERMARK)
    op.process("k", "b", 2, NO_WATERMARK)
    assert first[0].value == ["a"]


def test_mean_of_a_window() -> None:
    op, _ = make(tumbling(10), agg.mean(lambda e: e["ms"]))
    for t, ms in ((1, 10), (2, 20), (3, 40)):
        op.process("k", {"ms": ms}, t, NO_WATERMARK)
    (result,) = op.advance(10)
    assert result.value == pytest.approx(70 / 3)


class _CountingStore:
    """A window store that counts full scans (``fetch_all``)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.scans = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def fetch_all(self, *args: Any) -> Any:
        self.scans += 1
        return self._store.fetch_all(*args)


def test_the_store_is_read_once_at_start_even_through_early_references() -> None:
    """The first call rebuilds the view of the store once; a bound method taken before it (a
    runtime caching ``op.process``) must not rebuild it on every call."""
    spec = store_spec(tumbling(10), agg.count())
    store = _CountingStore(open_window_store("s", 0, string(), spec.value_serde))
    op = WindowedAggregation(tumbling(10), agg.count(), store, emit="updates")
    process, advance = op.process, op.advance
    for t in range(1, 6):
        assert [r.value for r in process("k", None, t, NO_WATERMARK)] == [t]
    assert store.scans == 1
    assert op.next_close == 10
    assert advance(9) == []
    assert store.scans == 1  # nothing closed: no scan
