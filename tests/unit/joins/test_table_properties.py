"""Tables, their views, stream-table, global-table and table-table joins against the
references, on random update sequences (tombstones, deletes of absent keys, repeated values),
with store flushes and a restart (stores restored from their changelogs, new cores), on both
store backends."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strom.joins import (
    GlobalTableJoin,
    StreamTableJoin,
    TableChange,
    TableCore,
    TableFilter,
    TableMapValues,
    TableTableJoin,
    to_stream,
)
from tests.contract.store_support import Harness
from tests.unit.joins.reference import (
    TableReference,
    TableTableReference,
    stream_table_reference,
    table_join_row,
)
from tests.unit.joins.support import BACKENDS, flush_all, replicas, table_harness

_SETTINGS = {
    "memory": settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck)),
    "rocksdb": settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck)),
}

KEYS = st.sampled_from(["a", "b", "c", "d"])
VALUES = st.one_of(st.none(), st.integers(min_value=0, max_value=4))  # None: a tombstone
TIMES = st.integers(min_value=0, max_value=100)
# ("L"/"R"/"T"/"S", key, value, timestamp), or ("F",) to flush, ("X",) to restart.
UPDATES = st.lists(
    st.integers(min_value=0, max_value=11).flatmap(
        lambda n: (
            st.tuples(st.just("L" if n < 5 else "R"), KEYS, VALUES, TIMES)
            if n < 10
            else st.just(("F",) if n == 10 else ("X",))
        )
    ),
    min_size=5,
    max_size=40,
)


class Run:
    """Table stores of one example, with flush and restart (fresh stores, restored)."""

    def __init__(self, backend: str, tmp: Path, names: list[str]) -> None:
        self.backend, self.tmp, self.generation = backend, tmp, 0
        self.harnesses: list[Harness] = [table_harness(backend, tmp / "0", n) for n in names]

    @property
    def stores(self) -> list[Any]:
        return [h.store for h in self.harnesses]

    def flush(self) -> None:
        flush_all(self.harnesses)

    def restart(self) -> None:
        flush_all(self.harnesses)
        self.generation += 1
        fresh = replicas(self.harnesses, self.backend, self.tmp / str(self.generation))
        self.close()
        self.harnesses = fresh

    def close(self) -> None:
        for harness in self.harnesses:
            harness.close()


def _table_changes(backend: str, ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(backend, Path(tmp), ["t"])
        try:
            table, ref = TableCore(run.stores[0]), TableReference()
            for op in ops:
                if op[0] == "F":
                    run.flush()
                elif op[0] == "X":
                    run.restart()
                    table = TableCore(run.stores[0])
                else:
                    _, key, value, ts = op
                    assert table.upsert(key, value, ts) == (
                        None if (c := ref.upsert(key, value, ts)) is None else TableChange(*c)
                    )
                    assert table.get(key) == ref.rows.get(key, (None,))[0]
            assert [(k, tuple(v)) for k, v in table.items()] == sorted(ref.rows.items())
        finally:
            run.close()


def _views(ops: list[tuple[Any, ...]]) -> None:
    """Filtered and mapped changes, applied to a dict, give the filtered / mapped table."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Run("memory", Path(tmp), ["t"])
        table, rows = TableCore(run.stores[0]), TableReference()
        keep, double = TableFilter(lambda v: v % 2 == 0), TableMapValues(lambda v: v * 2)
        filtered: dict[Any, Any] = {}
        mapped: dict[Any, Any] = {}
        for op in ops:
            if op[0] not in ("L", "R"):
                continue
            _, key, value, ts = op
            rows.upsert(key, value, ts)
            change = table.upsert(key, value, ts)
            if change is None:
                continue
            for view, materialised in ((keep(change), filtered), (double(change), mapped)):
                if view is None:
                    continue
                assert view.old == materialised.get(key)  # the retraction is exact
                assert view.old is not None or view.new is not None
                if view.new is None:
                    materialised.pop(key)
                else:
                    materialised[key] = view.new
                assert to_stream(view) == (key, view.new, ts)
            assert filtered == {k: v for k, (v, _) in rows.rows.items() if v % 2 == 0}
            assert mapped == {k: v * 2 for k, (v, _) in rows.rows.items()}
        run.close()


def _stream_table(backend: str, how: str, ops: list[tuple[Any, ...]], global_: bool) -> None:
    # "L" ops update the table, "R" ops are stream records (their value picks the global key).
    as_ref = [("T" if o[0] == "L" else "S", *o[1:]) for o in ops if o[0] in ("L", "R")]
    keys = ["a", "b", "c", "d", "a"]

    def lookup(key: Any, value: Any) -> Any:
        return keys[value or 0] if global_ else key

    expected = stream_table_reference(how, lambda s, t: (s, t), as_ref, lookup)
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(backend, Path(tmp), ["t"])

        def make() -> Any:
            table = TableCore(run.stores[0])
            if global_:
                return table, GlobalTableJoin(
                    table, lambda s, t: (s, t), how=how, lookup_key=lambda v: lookup(None, v)
                )
            return table, StreamTableJoin(table, lambda s, t: (s, t), how=how)

        try:
            table, join = make()
            got: list[Any] = []
            for op in ops:
                if op[0] == "F":
                    run.flush()
                elif op[0] == "X":
                    run.restart()
                    table, join = make()
                elif op[0] == "L":
                    table.upsert(op[1], op[2], op[3])
                    got.append(None)
                else:
                    out = join.process(op[1], op[2], op[3])
                    got.append(None if out is None else tuple(out))
            assert got == expected
        finally:
            run.close()


def _table_table(backend: str, how: str, ops: list[tuple[Any, ...]]) -> None:
    def joiner(left: Any, right: Any) -> Any:
        return (left, right)

    ref = TableTableReference(how, joiner)
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(backend, Path(tmp), ["left", "right"])

        def make() -> TableTableJoin[Any, Any, Any, Any]:
            left, right = (TableCore(store) for store in run.stores)
            return TableTableJoin(left, right, joiner, how=how)

        try:
            join, result = make(), {}
            for op in ops:
                if op[0] == "F":
                    run.flush()
                elif op[0] == "X":
                    run.restart()
                    join = make()
                else:
                    side, key, value, ts = op
                    upsert = join.upsert_left if side == "L" else join.upsert_right
                    change = upsert(key, value, ts)
                    expected = ref.upsert(side, key, value, ts)
                    assert change == (None if expected is None else TableChange(*expected))
                    if change is not None:
                        assert change.old == result.get(key)
                        if change.new is None:
                            del result[key]
                        else:
                            result[key] = change.new
            left = {k: v for k, (v, _) in ref.left.rows.items()}
            right = {k: v for k, (v, _) in ref.right.rows.items()}
            full = {
                k: row
                for k in left.keys() | right.keys()
                if (row := table_join_row(how, joiner, left.get(k), right.get(k))) is not None
            }
            assert result == full
        finally:
            run.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_table_changes_match_a_dict(backend: str) -> None:
    _SETTINGS[backend](given(UPDATES)(lambda ops: _table_changes(backend, ops)))()


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(UPDATES)
def test_filter_and_map_values_retract_exactly(ops: list[tuple[Any, ...]]) -> None:
    _views(ops)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_table_join_matches_the_reference(backend: str) -> None:
    @_SETTINGS[backend]
    @given(st.sampled_from(["inner", "left"]), st.booleans(), UPDATES)
    def check(how: str, global_: bool, ops: list[tuple[Any, ...]]) -> None:
        _stream_table(backend, how, ops, global_)

    check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_table_table_join_matches_the_reference(backend: str) -> None:
    @_SETTINGS[backend]
    @given(st.sampled_from(["inner", "left", "outer"]), UPDATES)
    def check(how: str, ops: list[tuple[Any, ...]]) -> None:
        _table_table(backend, how, ops)

    check()
