"""The windowed join's rules on small hand-made cases (each a rule of docs/joins.md)."""

from __future__ import annotations

from typing import Any

from strom.joins import IntervalJoin, Output, WindowedJoin, interval, join_window, within
from strom.joins import open_join_stores as stores
from strom.serde import integer, string


def pair(left: Any, right: Any) -> Any:
    return (left, right)


def windowed(how: str, window: Any = None) -> WindowedJoin[str, int, int, Any]:
    window = window or within(10)
    left, right = stores("j", 0, string(), integer(), integer(), window)
    return WindowedJoin(left, right, pair, window=window, how=how)


def test_a_match_before_the_close_cancels_the_unmatched_result() -> None:
    join = windowed("outer")
    assert join.process_left("k", 1, 100, 100).outputs == []
    assert join.advance(110) == []  # window [90, 110] still open at 110 (grace 0)
    assert join.process_right("k", 2, 110, 110).outputs == [Output("k", (1, 2), 110)]
    assert join.advance(1_000) == []  # both matched: nothing unmatched, ever


def test_an_unmatched_record_is_emitted_once_when_its_window_closes() -> None:
    join = windowed("outer", join_window(before=0, after=5, grace=3))
    join.process_left("k", 1, 100, 100)
    join.process_right("k", 2, 99, 100)  # before the left record: not in [100, 105]
    assert join.advance(107) == [Output("k", (None, 2), 99)]  # right closes at 99 + 0 + 3
    assert join.advance(108) == []
    assert join.advance(109) == [Output("k", (1, None), 100)]  # left closes at 100 + 5 + 3
    assert join.advance(500) == []


def test_records_with_one_key_and_timestamp_are_all_kept() -> None:
    join = windowed("left")
    for value in (1, 2, 3):
        join.process_left("k", value, 50, 50)
    out = join.process_right("k", 9, 50, 50).outputs
    assert out == [Output("k", (v, 9), 50) for v in (1, 2, 3)]
    join.process_left("k", 4, 70, 70)
    join.process_left("k", 5, 70, 70)
    assert join.advance(81) == [Output("k", (4, None), 70), Output("k", (5, None), 70)]


def test_late_records_are_flagged_and_neither_joined_nor_kept() -> None:
    join = windowed("outer", within(10, grace=5))
    join.process_left("k", 1, 100, 100)
    result = join.process_right("k", 2, 94, 100)  # 94 + 5 < 100: late
    assert result.late and result.outputs == []
    assert join.process_right("k", 3, 95, 100) == ([Output("k", (1, 3), 100)], False)
    assert join.advance(10_000) == []


def test_an_interval_after_the_record_joins_only_inside_it() -> None:
    bounds = interval(5, 10)
    left, right = stores("j", 0, string(), integer(), integer(), bounds)
    join = IntervalJoin(left, right, pair, bounds=bounds, how="left")
    join.process_left("k", 1, 100, 100)
    assert join.process_right("k", 2, 104, 104).outputs == []
    assert join.process_right("k", 3, 105, 105).outputs == [Output("k", (1, 3), 105)]
    assert join.process_right("k", 4, 111, 111).outputs == []
    join.process_left("k", 5, 200, 200)
    assert join.advance(210) == []
    assert join.advance(211) == [Output("k", (5, None), 200)]


def test_none_keys_never_join_and_outer_sides_emit_them_at_once() -> None:
    join = windowed("outer")
    assert join.process_left(None, 1, 10, 10).outputs == [Output(None, (1, None), 10)]  # type: ignore[arg-type]
    assert join.process_right(None, 2, 10, 10).outputs == [Output(None, (None, 2), 10)]  # type: ignore[arg-type]
    inner = windowed("inner")
    assert inner.process_left(None, 1, 10, 10) == ([], False)  # type: ignore[arg-type]


def test_the_watermark_never_goes_back() -> None:
    join = windowed("left")
    join.process_left("k", 1, 100, 100)
    assert join.advance(50) == [] and join.watermark == 100
    assert join.process_left("k", 2, 95, 50).late  # judged at 100, not 50
    assert not join.process_left("k", 3, 100, 50).late
