"""Bad window definitions, aggregations and operator arguments fail where they are written,
with a ConfigError that names the argument."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from strom import windows
from strom.errors import ConfigError
from strom.serde import string
from strom.state import open_key_value_store, open_session_store, open_window_store
from strom.windows import aggregations as agg


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: windows.tumbling(0), "tumbling window size must be > 0 ms, got 0"),
        (lambda: windows.tumbling(-5), "tumbling window size must be > 0 ms, got -5"),
        (lambda: windows.tumbling(timedelta(0)), "tumbling window size must be > 0 ms"),
        (lambda: windows.tumbling(1.5), "tumbling window size must be an int (milliseconds)"),
        (lambda: windows.tumbling(True), "tumbling window size must be an int (milliseconds)"),
        (lambda: windows.tumbling("5m"), "tumbling window size must be an int"),
        (
            lambda: windows.tumbling(timedelta(microseconds=1500)),
            "tumbling window size must be a whole number of milliseconds",
        ),
        (lambda: windows.tumbling(10, offset=2.0), "tumbling window offset must be an int"),
        (lambda: windows.hopping(0, 1), "hopping window size must be > 0 ms, got 0"),
        (lambda: windows.hopping(10, 0), "hopping window advance must be > 0 ms, got 0"),
        (lambda: windows.hopping(10, -1), "hopping window advance must be > 0 ms, got -1"),
        (
            lambda: windows.hopping(10, 11),
            "hopping window advance (11 ms) must be <= its size (10 ms)",
        ),
        (
            lambda: windows.hopping(timedelta(minutes=1), timedelta(minutes=2)),
            "hopping window advance (120000 ms) must be <= its size (60000 ms)",
        ),
        (lambda: windows.sliding(0), "sliding window size must be > 0 ms, got 0"),
        (lambda: windows.sliding(None), "sliding window size must be an int"),
        (lambda: windows.session(0), "session gap must be > 0 ms, got 0"),
        (lambda: windows.session(-timedelta(seconds=1)), "session gap must be > 0 ms, got -1000"),
        (lambda: windows.count(0), "count window size n must be >= 1, got 0"),
        (lambda: windows.count(2.0), "count window size n must be an int, got 2.0"),
        (lambda: windows.check_grace(-1), "grace must be >= 0 ms, got -1"),
        (lambda: windows.check_grace(timedelta(seconds=-1)), "grace must be >= 0 ms, got -1000"),
        (lambda: windows.check_grace("1s"), "grace must be an int (milliseconds)"),
        # The dataclasses check themselves too (built directly, not through the functions).
        (lambda: windows.Tumbling(10, offset=10), "tumbling window offset must be an int in"),
        (lambda: windows.Hopping(10, 5, offset=-1), "hopping window offset must be an int in"),
        (lambda: windows.Session(0), "session gap must be > 0 ms"),
    ],
)
def test_bad_definitions_fail_at_definition(build: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert message in str(caught.value)


def test_timedelta_and_offset_are_converted_once() -> None:
    assert windows.tumbling(timedelta(minutes=5)) == windows.Tumbling(300_000)
    assert windows.tumbling(10, offset=-3) == windows.Tumbling(10, 7)
    assert windows.hopping(10, 4, offset=timedelta(milliseconds=9)) == windows.Hopping(10, 4, 1)
    assert windows.session(timedelta(seconds=2)) == windows.Session(2_000)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: agg.aggregate(0, lambda a, v: a), "init must be a callable"),
        (lambda: agg.aggregate(list, "append"), "add must be callable"),
        (lambda: agg.aggregate(list, lambda a, v: a, merge=1), "merge must be callable"),
        (lambda: agg.aggregate(list, lambda a, v: a, result="x"), "result must be callable"),
        (lambda: agg.aggregate(list, lambda a, v: a, serde=object()), "serde must be a strom"),
        (lambda: agg.sum(fn=3), "sum: fn must be callable"),
        (lambda: agg.mean(fn="x"), "mean: fn must be callable"),
    ],
)
def test_bad_aggregations(build: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert message in str(caught.value)


def _window_store() -> Any:
    return open_window_store("w", 0, string(), agg.MsgpackSerde())


def test_session_windows_need_merge() -> None:
    store = open_session_store("s", 0, string(), agg.MsgpackSerde())
    no_merge = agg.aggregate(list, lambda acc, v: [*acc, v], name="tags")
    with pytest.raises(ConfigError, match=r"session windows need .* 'tags' a merge\(a, b\)"):
        windows.WindowedAggregation(windows.session(10), no_merge, store)
    # The same aggregation is fine for the other window types.
    windows.WindowedAggregation(windows.tumbling(10), no_merge, _window_store())


@pytest.mark.parametrize(
    ("window", "store", "message"),
    [
        (
            windows.tumbling(10),
            lambda: open_session_store("s", 0, string(), agg.MsgpackSerde()),
            "needs a window store",
        ),
        (
            windows.session(10),
            lambda: open_window_store("w", 0, string(), agg.MsgpackSerde()),
            "needs a session store",
        ),
        (windows.count(3), _window_store, "needs a key-value store"),
        (windows.sliding(3), lambda: {}, "needs a window store"),
    ],
)
def test_wrong_store_kind(window: Any, store: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        windows.WindowedAggregation(window, agg.count(), store())


def test_bad_operator_arguments() -> None:
    store = _window_store()
    with pytest.raises(ConfigError, match="emit must be one of final, updates, got 'all'"):
        windows.WindowedAggregation(windows.tumbling(10), agg.count(), store, emit="all")
    with pytest.raises(ConfigError, match="grace must be >= 0 ms, got -1"):
        windows.WindowedAggregation(windows.tumbling(10), agg.count(), store, grace=-1)
    with pytest.raises(ConfigError, match="aggregation must be a"):
        windows.WindowedAggregation(windows.tumbling(10), len, store)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"window must be a strom\.windows definition"):
        windows.WindowedAggregation(60_000, agg.count(), store)  # type: ignore[arg-type]
    kv = open_key_value_store("c", 0, string(), agg.MsgpackSerde())
    with pytest.raises(ConfigError, match="count windows have no time: grace does not apply"):
        windows.WindowedAggregation(windows.count(2), agg.count(), kv, grace=5)


@pytest.mark.parametrize(
    ("window", "grace", "needed"),
    [
        (windows.tumbling(60_000), 5_000, 65_000),
        (windows.hopping(60_000, 10_000), 0, 60_000),
        (windows.sliding(10_000), 5_000, 25_001),
        (windows.session(30_000), 1_000, 31_000),
    ],
)
def test_grace_longer_than_retention_is_refused(window: Any, grace: int, needed: int) -> None:
    assert windows.required_retention(window, grace) == needed
    windows.check_retention(window, grace, needed)
    windows.check_retention(window, grace, timedelta(days=1))
    with pytest.raises(ConfigError, match=f"needs a store retention of at least {needed} ms"):
        windows.check_retention(window, grace, needed - 1)


def test_store_spec_says_which_store() -> None:
    spec = windows.store_spec(windows.tumbling(timedelta(hours=1)), agg.count(), grace=0)
    assert (spec.kind, spec.retention, spec.segment_interval) == ("window", 3_600_000, 1_800_000)
    assert windows.store_spec(windows.sliding(10), agg.count()).kind == "window"
    assert windows.store_spec(windows.session(10), agg.count()).kind == "session"
    count_spec = windows.store_spec(windows.count(5), agg.count())
    assert (count_spec.kind, count_spec.retention, count_spec.segment_interval) == (
        "key-value",
        None,
        None,
    )
    # Small windows: Kafka Streams' floor of one minute per segment.
    assert windows.store_spec(windows.tumbling(10), agg.count()).segment_interval == 60_000
    windows.check_retention(windows.count(5), 0, 1)  # no time: nothing to check
