"""Bad join definitions fail at construction with a ConfigError saying what is wrong; the store
value layouts round-trip and refuse what they cannot read."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from strom.errors import ConfigError, SerializationError, StateError
from strom.joins import (
    Buffered,
    GlobalTableJoin,
    IntervalJoin,
    JoinWindows,
    Stamped,
    StreamTableJoin,
    TableCore,
    TableFilter,
    TableMapValues,
    TableTableJoin,
    WindowedJoin,
    buffer_serde,
    interval,
    join_window,
    open_join_stores,
    open_table_store,
    within,
)
from strom.serde import integer, json, string


def pair(left: Any, right: Any) -> Any:
    return (left, right)


@pytest.fixture
def table() -> TableCore[str, Any]:
    return TableCore(open_table_store("t", 0, string(), json()))


@pytest.fixture
def stores() -> Any:
    return open_join_stores("j", 0, string(), integer(), integer(), within(10))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: within(-1), "join window size must not be negative"),
        (lambda: within(timedelta(seconds=-1)), "must not be negative"),
        (lambda: within(10, grace=-5), "join window grace must not be negative"),
        (lambda: join_window(before=-1, after=5), "join window before must not be negative"),
        (lambda: join_window(before=1, after=-5), "join window after must not be negative"),
        (lambda: JoinWindows(1, 2, -3), "grace must not be negative"),
        (lambda: within(1.5), "timedelta or an int of milliseconds"),
        (lambda: within(True), "timedelta or an int of milliseconds"),
        (lambda: within("10s"), "timedelta or an int of milliseconds"),
        (lambda: interval(5, 1), "lower (5 ms) must not be above upper (1 ms)"),
        (lambda: interval(-5, 1, grace=-1), "grace must not be negative"),
    ],
)
def test_bad_windows_are_refused(build: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        build()


def test_window_joins_need_a_window_and_a_joiner(stores: Any) -> None:
    left, right = stores
    with pytest.raises(ConfigError, match="windowed join: a window is required"):
        WindowedJoin(left, right, pair, window=None)
    with pytest.raises(ConfigError, match=r"window must be strom\.joins\.within"):
        WindowedJoin(left, right, pair, window=interval(0, 5))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="interval join: bounds are required"):
        IntervalJoin(left, right, pair, bounds=None)
    with pytest.raises(ConfigError, match=r"bounds must be strom\.joins\.interval"):
        IntervalJoin(left, right, pair, bounds=within(5))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="windowed join: a joiner is required"):
        WindowedJoin(left, right, None, window=within(5))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="joiner must be a function"):
        WindowedJoin(left, right, "concat", window=within(5))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="how must be one of 'inner', 'left', 'outer'"):
        WindowedJoin(left, right, pair, window=within(5), how="full")
    with pytest.raises(ConfigError, match="interval join: how must be one of 'inner', 'left'"):
        IntervalJoin(left, right, pair, bounds=interval(0, 5), how="outer")
    with pytest.raises(ConfigError, match="expire_every must be an int of ms > 0, got 0"):
        WindowedJoin(left, right, pair, window=within(5), expire_every=0)


def test_table_joins_need_a_joiner_and_a_known_how(table: TableCore[str, Any]) -> None:
    with pytest.raises(ConfigError, match="stream-table join: a joiner is required"):
        StreamTableJoin(table, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="stream-table join: how must be one of"):
        StreamTableJoin(table, pair, how="outer")
    with pytest.raises(ConfigError, match="global-table join: how must be one of"):
        GlobalTableJoin(table, pair, how="right")
    with pytest.raises(ConfigError, match="lookup_key must be a function"):
        GlobalTableJoin(table, pair, lookup_key="id")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="table-table join: a joiner is required"):
        TableTableJoin(table, table, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="table-table join: how must be one of"):
        TableTableJoin(table, table, pair, how="cross")
    with pytest.raises(ConfigError, match="predicate must be a function"):
        TableFilter(None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="mapper must be a function"):
        TableMapValues(3)  # type: ignore[arg-type]


def test_a_table_update_needs_a_key(table: TableCore[str, Any]) -> None:
    with pytest.raises(StateError, match="table 't' partition 0: a table update needs a key"):
        table.upsert(None, 1, 0)  # type: ignore[arg-type]


def test_buffer_values_round_trip_and_corruption_is_refused() -> None:
    serde = buffer_serde(string())
    for entry in [
        Buffered(False, ("",)),
        Buffered(True, (None, "x", "", "yz")),
        Buffered(False, ()),
    ]:
        assert serde.deserialize(serde.serialize(entry)) == entry
    data = serde.serialize(Buffered(False, ("abc",)))
    assert data is not None
    with pytest.raises(SerializationError, match="truncated join buffer entry"):
        serde.deserialize(data[:-1])
    with pytest.raises(SerializationError, match="not a version-1 join buffer entry"):
        serde.deserialize(b"\x07" + data[1:])


def test_a_stamped_value_keeps_its_timestamp() -> None:
    store = open_table_store("t", 0, string(), json())
    store.put("k", Stamped({"a": 1}, -5))
    store.flush()
    assert store.get("k") == Stamped({"a": 1}, -5)
