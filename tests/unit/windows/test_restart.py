"""Restart equivalence: run half the input, checkpoint, lose the process, restore a fresh store
from the changelog (or reopen the RocksDB local copy from its checkpoint), start a new
operator instance, run the rest: every output equals an uninterrupted run's.

Also: the cadence of ``advance`` and of checkpoints changes nothing but when finals come out.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from strom.serde import string
from strom.state import open_window_store
from strom.windows import LATE, NO_WATERMARK, WindowedAggregation, store_spec, tumbling
from strom.windows import aggregations as agg
from tests.unit.windows.harness import Runner, run
from tests.unit.windows.reference import Call
from tests.unit.windows.strategies import KINDS, Scenario, scenarios

BACKENDS = ["memory", "rocksdb"]
EXAMPLES = {"memory": 20, "rocksdb": 3}


def _run(scenario: Scenario, emit: str, backend: str, **options: Any) -> list[Any]:
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(
            scenario.window,
            scenario.make_aggregation(),
            emit=emit,
            grace=scenario.grace,
            backend=backend,
            state_dir=Path(tmp),
            reopen=options.pop("reopen", False),
        )
        return run(runner, scenario.calls, **options)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_restart_in_the_middle_changes_nothing(kind: str, backend: str) -> None:
    @settings(
        max_examples=EXAMPLES[backend], deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(scenario=scenarios(kind, restart=False))
    def inner(scenario: Scenario) -> None:
        half = len(scenario.calls) // 2
        for emit in ("final", "updates"):
            uninterrupted = _run(scenario, emit, "memory")
            if backend == "memory":
                # A fresh store restored from the whole changelog.
                restarted = _run(scenario, emit, backend, restart_at=half, flushes=frozenset({1}))
                assert restarted == uninterrupted
            elif emit == "final":
                # The runtime's usual path: the clean local copy, plus the changelog after its
                # checkpoint. (A fresh RocksDB store restored from all of it: test_properties.)
                reopened = _run(scenario, emit, backend, restart_at=half, reopen=True)
                assert reopened == uninterrupted

    inner()


@pytest.mark.parametrize("kind", KINDS)
def test_advance_and_checkpoint_cadence_only_move_finals(kind: str) -> None:
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(scenario=scenarios(kind, restart=False))
    def inner(scenario: Scenario) -> None:
        records = [c for c in scenario.calls if c.op == "process"]
        last = scenario.calls[-1]
        # Advance after every record, then with the last watermark.
        every: list[Call] = []
        for i, call in enumerate(records):
            every.append(call)
            if i + 1 < len(records):
                every.append(Call("advance", records[i + 1].watermark))
        every.append(last)
        # Advance only at the end.
        once = [*records, last]
        flushes = frozenset(range(0, len(every), 3))
        for emit in ("final", "updates"):
            a = _run(Scenario(scenario.window, scenario.aggregation, scenario.grace, every,
                              flushes, None), emit, "memory")  # fmt: skip
            b = _run(Scenario(scenario.window, scenario.aggregation, scenario.grace, once,
                              frozenset(), None), emit, "memory")  # fmt: skip
            assert [out for call, out in zip(every, a, strict=True) if call.op == "process"] == [
                out for call, out in zip(once, b, strict=True) if call.op == "process"
            ]
            finals_a = [r for call, out in zip(every, a, strict=True) if call.op == "advance"
                        for r in out]  # fmt: skip
            assert finals_a == b[-1]

    inner()


def test_restored_store_implies_the_watermark(tmp_path: Path) -> None:
    """A new instance over a restored store treats what was closed as closed, even before the
    runtime tells it the watermark: a record for an expired window is LATE, not a store error."""
    window, count = tumbling(10), agg.count()
    spec = store_spec(window, count)
    store = open_window_store("w", 0, string(), spec.value_serde)
    op = WindowedAggregation(window, count, store)
    assert op.process("k", 1, 5, NO_WATERMARK) == []
    assert op.process("k", 1, 25, 5) == []
    assert [r.end for r in op.advance(25)] == [10]
    changes = store.flush()
    fresh = open_window_store("w", 0, string(), spec.value_serde)
    fresh.restore(changes)
    again = WindowedAggregation(window, count, fresh)
    assert again.watermark == 25  # advance(25) closed everything ending at or before 25
    assert again.next_close == 30
    assert again.process("k", 1, 7, NO_WATERMARK) is LATE
    assert again.late_records == 1
    assert [(r.start, r.value) for r in again.advance(30)] == [(20, 1)]
