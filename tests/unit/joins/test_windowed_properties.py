"""Windowed and interval joins against the reference, on random interleavings of both sides.

Each example draws a definition (window or interval, how), a sequence of records on either
side (few keys, a None key now and then, colliding timestamps, None values), watermark
advances and store flushes, and a watermark that trails the largest timestamp by a fixed delay
(so out-of-order records fall inside or outside the grace). Every call's outputs must equal the
reference's, as sequences per key (the order the join defines), and so must its late flag.
Restart: the same run cut in two, the stores flushed and restored (fresh stores from the whole
changelog, or RocksDB's local copy reopened), a new core for the second half.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strom.joins import IntervalJoin, WindowedJoin, interval, join_window
from strom.joins.buffered import BufferedJoin
from tests.contract.store_support import Harness
from tests.unit.joins.reference import WindowedReference, by_key
from tests.unit.joins.support import BACKENDS, flush_all, join_harnesses, replicas

_SETTINGS = {
    "memory": settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck)),
    "rocksdb": settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck)),
}

# A record: side, key, how far the stream's clock moves first (ms), how far behind the clock
# the record's timestamp is (out of order), and its value (0: its arrival number; or None).
RECORD = st.tuples(
    st.sampled_from(["L", "R"]),
    st.sampled_from(["a", "a", "b", "c", None]),
    st.integers(min_value=0, max_value=4),
    st.sampled_from([0, 0, 0, 1, 3, 8, 20]),
    st.sampled_from([0, 0, 0, None]),
)
ADVANCE = st.tuples(st.just("A"), st.integers(min_value=0, max_value=12))
FLUSH = st.tuples(st.just("F"))
# One op in ten advances the watermark alone, one in ten flushes the stores.
OPS = st.lists(
    st.integers(min_value=0, max_value=9).flatmap(
        lambda n: RECORD if n < 8 else ADVANCE if n == 8 else FLUSH
    ),
    min_size=10,
    max_size=50,
)


@st.composite
def definitions(draw: st.DrawFn) -> tuple[str, Any, str]:
    """(kind, definition, how)."""
    grace = draw(st.integers(min_value=0, max_value=10))
    if draw(st.booleans()):
        before = draw(st.integers(min_value=0, max_value=15))
        after = draw(st.integers(min_value=0, max_value=15))
        how = draw(st.sampled_from(["inner", "left", "outer"]))
        return "window", join_window(before=before, after=after, grace=grace), how
    lower = draw(st.integers(min_value=-15, max_value=15))
    upper = draw(st.integers(min_value=lower, max_value=20))
    return "interval", interval(lower, upper, grace=grace), draw(st.sampled_from(["inner", "left"]))


def joiner(left: Any, right: Any) -> tuple[Any, Any]:
    return (left, right)


def make_core(kind: str, definition: Any, how: str, stores: list[Any]) -> BufferedJoin[Any, Any]:
    # Expire often (every 5 ms of watermark progress), so that expiry happens mid-run.
    if kind == "window":
        return WindowedJoin(
            stores[0], stores[1], joiner, window=definition, how=how, expire_every=5
        )
    return IntervalJoin(stores[0], stores[1], joiner, bounds=definition, how=how, expire_every=5)


def calls(ops: list[tuple[Any, ...]], delay: int) -> list[tuple[Any, ...]]:
    """The ops with timestamps, values (arrival numbers, or None) and watermarks (the largest
    timestamp so far minus ``delay``) filled in."""
    out: list[tuple[Any, ...]] = []
    clock = 0
    high: int | None = None
    for number, op in enumerate(ops):
        if op[0] in ("L", "R"):
            side, key, step, skew, value = op
            clock += step
            ts = clock - skew
            high = ts if high is None else max(high, ts)
            out.append((side, key, None if value is None else number, ts, high - delay))
        elif op[0] == "A":
            clock += op[1]
            high = clock if high is None else max(high, clock)
            out.append(("A", high - delay))
        else:
            out.append(op)
    return out


Result = tuple[dict[Any, list[tuple[Any, int]]], bool]


def run_core(
    core: BufferedJoin[Any, Any], harnesses: list[Harness], ops: list[Any]
) -> list[Result]:
    results: list[Result] = []
    for op in ops:
        if op[0] == "A":
            deadline = core.deadline
            outputs = list(core.advance(op[1]))
            if deadline is None or op[1] < deadline:  # the runtime may skip advance there
                assert outputs == [], (deadline, op)
            results.append((by_key(outputs), False))
        elif op[0] == "F":
            flush_all(harnesses)
        else:
            side, key, value, ts, watermark = op
            process = core.process_left if side == "L" else core.process_right
            outputs, late = process(key, value, ts, watermark)
            results.append((by_key(list(outputs)), late))
    return results


def run_reference(definition: Any, how: str, ops: list[Any]) -> list[Result]:
    ref = WindowedReference(-definition.before, definition.after, definition.grace, how, joiner)
    results: list[Result] = []
    for op in ops:
        if op[0] == "A":
            results.append((by_key(ref.advance(op[1])), False))
        elif op[0] != "F":
            side, key, value, ts, watermark = op
            outputs, late = ref.process(side, key, value, ts, watermark)
            results.append((by_key(outputs), late))
    return results


def _check_same(backend: str, spec: tuple[str, Any, str], raw: list[Any], delay: int) -> None:
    kind, definition, how = spec
    ops = calls(raw, delay)
    expected = run_reference(definition, how, ops)
    with tempfile.TemporaryDirectory() as tmp:
        harnesses = join_harnesses(backend, Path(tmp), "j", segment=7)
        try:
            core = make_core(kind, definition, how, [h.store for h in harnesses])
            assert run_core(core, harnesses, ops) == expected
        finally:
            for harness in harnesses:
                harness.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_the_reference(backend: str) -> None:
    @_SETTINGS[backend]
    @given(definitions(), OPS, st.integers(min_value=0, max_value=20))
    def check(spec: tuple[str, Any, str], raw: list[Any], delay: int) -> None:
        _check_same(backend, spec, raw, delay)

    check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_restart_continues_like_an_uninterrupted_run(backend: str) -> None:
    @_SETTINGS[backend]
    @given(
        definitions(),
        OPS,
        st.integers(min_value=0, max_value=20),
        st.integers(min_value=0, max_value=45),
        st.booleans(),
    )
    def check(
        spec: tuple[str, Any, str], raw: list[Any], delay: int, cut: int, reopen: bool
    ) -> None:
        kind, definition, how = spec
        ops = calls(raw, delay)
        first, rest = ops[:cut], ops[cut:]
        expected = run_reference(definition, how, ops)
        with tempfile.TemporaryDirectory() as tmp:
            harnesses = join_harnesses(backend, Path(tmp) / "a", "j", segment=7)
            try:
                core = make_core(kind, definition, how, [h.store for h in harnesses])
                got = run_core(core, harnesses, first)
                core.expire()  # before the checkpoint: the stores then imply the watermark
                flush_all(harnesses)
                watermark = core.watermark
                if reopen:  # RocksDB: the local copy; memory: the whole changelog
                    for harness in harnesses:
                        harness.reopen()
                else:
                    fresh = replicas(harnesses, backend, Path(tmp) / "b")
                    for harness in harnesses:
                        harness.close()
                    harnesses = fresh
                core = make_core(kind, definition, how, [h.store for h in harnesses])
                assert core.restored_watermark() == watermark
                got += run_core(core, harnesses, rest)
                assert got == expected
            finally:
                for harness in harnesses:
                    harness.close()

    check()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_aborted_batch_replayed_gives_the_same_outputs(backend: str) -> None:
    """Exactly-once abort: stores discard, the core resets (or a new one is built), the
    batch runs again."""

    @_SETTINGS[backend]
    @given(
        definitions(),
        OPS,
        st.integers(min_value=0, max_value=20),
        st.integers(min_value=0, max_value=45),
        st.integers(min_value=0, max_value=45),
        st.booleans(),
    )
    def check(
        spec: tuple[str, Any, str], raw: list[Any], delay: int, a: int, b: int, rebuild: bool
    ) -> None:
        kind, definition, how = spec
        ops = [op for op in calls(raw, delay) if op[0] != "F"]
        cut, end = min(a, b), max(a, b)
        expected = run_reference(definition, how, ops)
        with tempfile.TemporaryDirectory() as tmp:
            harnesses = join_harnesses(backend, Path(tmp), "j", segment=7)
            try:
                core = make_core(kind, definition, how, [h.store for h in harnesses])
                got = run_core(core, harnesses, ops[:cut])
                flush_all(harnesses)
                run_core(core, harnesses, ops[cut:end])  # processed, then aborted
                for harness in harnesses:
                    harness.store.discard()
                if rebuild:
                    core = make_core(kind, definition, how, [h.store for h in harnesses])
                else:
                    core.reset()
                got += run_core(core, harnesses, ops[cut:])
                assert got == expected
            finally:
                for harness in harnesses:
                    harness.close()

    check()
