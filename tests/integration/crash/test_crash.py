"""Exactly-once under SIGKILL: the crash harness (``tests/crash``) in its short form.

Each case feeds a known input while ``strom run`` processes it under exactly-once with a
100 ms commit interval, SIGKILLs the process at random moments (while processing, during a
commit, while restoring, while starting), restarts it, and at the end reads the outputs
read_committed and compares them with the reference computed from the input: no duplicate,
nothing missing, every rolling count and window result as the reference says. On Kafka the
broker is also restarted once mid-run. ``make crash-long`` runs the same with >= 200 kills
per case and writes docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.crash.harness import Case, Result, Run


def _explain(result: Result) -> str:
    lines = [result.summary()]
    for check in result.checks:
        lines += [f"  {check.output}: {e}" for e in check.examples]
    if result.input_problem:
        lines.append(f"  input: {result.input_problem}")
    lines += [f"  {problem}" for problem in result.unexpected_exits]
    lines.append(f"  logs: {result.workdir}")
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["stateless", "windowed"])
def test_kills_on_the_embedded_log_leave_exactly_the_reference(
    pipeline: str, kills: int, tmp_path: Path
) -> None:
    case = Case(log="local", pipeline=pipeline, kills=kills, seed=kills)
    result = Run(case, f"local://{tmp_path / 'log'}", tmp_path / "run").execute()
    assert result.ok, _explain(result)
    assert len(result.kills) == kills


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.parametrize("pipeline", ["stateless"])
def test_kills_and_a_broker_restart_on_kafka_leave_exactly_the_reference(
    pipeline: str, kills: int, own_broker: tuple[str, Path], tmp_path: Path
) -> None:
    url, broker_dir = own_broker
    case = Case(log="kafka", pipeline=pipeline, kills=kills, broker_restart=True, seed=kills)
    result = Run(case, url, tmp_path / "run", broker_dir=broker_dir).execute()
    assert result.ok, _explain(result)
    assert len(result.kills) == kills
    assert result.broker_restart, "the broker was not restarted"


@pytest.mark.slow
@pytest.mark.kafka
def test_kills_of_a_windowed_count_on_kafka_leave_exactly_the_reference(
    kafka_url: str, kills: int, tmp_path: Path
) -> None:
    # The session's broker: the broker restart is the stateless case's.
    case = Case(log="kafka", pipeline="windowed", kills=kills, seed=kills + 1)
    result = Run(case, kafka_url, tmp_path / "run").execute()
    assert result.ok, _explain(result)
    assert len(result.kills) == kills
