"""The operator equals the reference computation, for every window type, emit mode and store
backend: random out-of-order input with late records, random keys, random checkpoints and a
random restart (a fresh store restored from the changelog, a new operator instance).

Each call's output is compared exactly: the results of ``process`` (emit ``"updates"``, and
count windows' completed windows), ``LATE`` for late records (so they are flagged and never
aggregated: a late value in a window would show in ``collect``), and the final results of
each ``advance`` in their order.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.unit.windows.harness import Runner, run
from tests.unit.windows.reference import reference
from tests.unit.windows.strategies import KINDS, Scenario, scenarios

BACKENDS = ["memory", "rocksdb"]
EXAMPLES = {"memory": 60, "rocksdb": 8}


def check(kind: str, emit: str, backend: str, scenario: Scenario) -> None:
    """Run the operator and the reference on one scenario and compare every output."""
    expected = reference(
        scenario.window, scenario.make_aggregation(), emit, scenario.grace, scenario.calls
    )
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(
            scenario.window,
            scenario.make_aggregation(),
            emit=emit,
            grace=scenario.grace,
            backend=backend,
            state_dir=Path(tmp),
        )
        actual = run(
            runner, scenario.calls, flushes=scenario.flushes, restart_at=scenario.restart_at
        )
    for i, (call, want, got) in enumerate(zip(scenario.calls, expected, actual, strict=True)):
        assert got == want, f"call {i} {call}: expected {want}, got {got}"
    late = sum(1 for out in expected if out == "LATE")
    if scenario.restart_at is None:
        assert runner.op.late_records == late


def _test(kind: str, emit: str, backend: str) -> None:
    @settings(
        max_examples=EXAMPLES[backend],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(scenario=scenarios(kind))
    def inner(scenario: Scenario) -> None:
        check(kind, emit, backend, scenario)

    inner()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("emit", ["final", "updates"])
@pytest.mark.parametrize("kind", KINDS)
def test_operator_equals_reference(kind: str, emit: str, backend: str) -> None:
    _test(kind, emit, backend)
