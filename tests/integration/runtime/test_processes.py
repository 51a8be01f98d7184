"""Applications as real processes (``strom run``): signals, crashes, restarts, group sharing."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from strom.log import TopicPartition
from tests.integration.runtime.processes import (
    Outputs,
    Processes,
    committed,
    connected,
    setup,
    stop,
)


@pytest.mark.kafka
def test_two_processes_share_work_through_sigterm_and_late_join(
    kafka_url: str, procs: Callable[..., Processes]
) -> None:
    n = 1200
    with connected(kafka_url) as log:
        env, out = setup(log, kafka_url, n, 4, STROM_T_SLEEP_MS="4")
        group = procs(**env)
        outputs = Outputs(log, out, 4)
        try:
            first = group.start()
            outputs.wait(lambda: len(outputs.values) >= 100, "the first process to produce")
            second = group.start()
            outputs.wait(
                lambda: any(v["pid"] == second.pid for v in outputs.values),
                "the late process to get partitions",
            )
            assert len(outputs.distinct) < n, "too little work left to test the handover"
            assert stop(first) == 0, group.stderr(first)
            outputs.wait(lambda: len(outputs.distinct) == n, "every input's output")
            assert stop(second) == 0, group.stderr(second)
        finally:
            outputs.close()
        # At least once: every input produced an output; repeats are allowed, gaps are not.
        assert outputs.distinct == set(range(n))
        assert len(outputs.values) >= n
        assert {v["pid"] for v in outputs.values} == {first.pid, second.pid}
        assert "revoked" in group.stderr(first)


def test_sigkill_then_restart_at_least_once_loses_nothing(
    broker: str, procs: Callable[..., Processes]
) -> None:
    n = 600
    with connected(broker) as log:
        env, out = setup(log, broker, n, 2, STROM_T_SLEEP_MS="3", STROM_T_BATCH="100")
        group = procs(**env)
        outputs = Outputs(log, out, 2)
        try:
            first = group.start()
            outputs.wait(lambda: len(outputs.values) >= 100, "the first outputs")
            first.kill()
            first.wait(10)
            assert len(outputs.distinct) < n, "the process finished before it was killed"
            second = group.start()
            outputs.wait(lambda: len(outputs.distinct) == n, "every input's output")
            assert stop(second) == 0, group.stderr(second)
        finally:
            outputs.close()
        assert outputs.distinct == set(range(n))


def test_sigkill_then_restart_at_most_once_repeats_nothing(
    broker: str, procs: Callable[..., Processes]
) -> None:
    n = 600
    with connected(broker) as log:
        env, out = setup(
            log,
            broker,
            n,
            2,
            STROM_T_SLEEP_MS="3",
            STROM_T_BATCH="100",
            STROM_T_GUARANTEE="at-most-once",
            # Long: were offsets committed only at checkpoints, a restart would repeat records.
            STROM_T_COMMIT_INTERVAL="60",
        )
        group = procs(**env)
        outputs = Outputs(log, out, 2)
        try:
            first = group.start()
            outputs.wait(lambda: len(outputs.values) >= 100, "the first outputs")
            first.kill()
            first.wait(10)
            second = group.start()
            app = env["STROM_T_APP"]
            inp = env["STROM_T_IN"]
            ends = {TopicPartition(inp, p): None for p in range(2)}
            outputs.wait(
                lambda: sum(committed(log, app).get(tp, 0) for tp in ends) == n,
                "the restarted process to commit every input",
            )
            assert stop(second) == 0, group.stderr(second)
            time.sleep(0.5)
            outputs.poll()
            outputs.poll()
        finally:
            outputs.close()
        ns = [v["n"] for v in outputs.values]
        assert len(ns) == len(set(ns)), "at-most-once repeated a record"
        assert len(ns) > 100


def test_a_raising_function_stops_the_process_naming_the_record(
    broker: str, procs: Callable[..., Processes]
) -> None:
    with connected(broker) as log:
        env, out = setup(log, broker, 100, 1, STROM_T_FAIL_AT="42")
        group = procs(**env)
        proc = group.start()
        assert proc.wait(60) == 1
        err = group.stderr(proc)
        assert "step 'work' raised ValueError: cannot handle n=42" in err
        assert f"topic={env['STROM_T_IN']!r}, partition=0, offset=42" in err
        # Everything before the failed record is committed; the failed record is not.
        assert committed(log, env["STROM_T_APP"]) == {TopicPartition(env["STROM_T_IN"], 0): 42}
        outputs = Outputs(log, out, 1)
        try:
            outputs.wait(lambda: len(outputs.values) >= 42, "outputs before the failure", 20)
            time.sleep(0.2)
            outputs.poll()
        finally:
            outputs.close()
        assert sorted(outputs.distinct) == list(range(42))


def test_sigint_stops_gracefully_committing_exactly_what_was_written(
    local_url: str, procs: Callable[..., Processes]
) -> None:
    with connected(local_url) as log:
        env, out = setup(log, local_url, 400, 2, STROM_T_SLEEP_MS="5", STROM_T_BATCH="20")
        group = procs(**env)
        outputs = Outputs(log, out, 2)
        try:
            proc = group.start()
            outputs.wait(lambda: len(outputs.values) >= 50, "the first outputs")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0, group.stderr(proc)
            time.sleep(0.2)
            outputs.poll()
            outputs.poll()
        finally:
            outputs.close()
        assert len(outputs.distinct) < 400, "the process finished before the signal"
        # The batch in hand was finished, flushed and committed: a restart repeats nothing.
        done = sum(committed(log, env["STROM_T_APP"]).values())
        assert done == len(outputs.values) == len(outputs.distinct)
        assert "SIGINT received: stopping" in group.stderr(proc)


def test_a_second_signal_exits_at_once(local_url: str, procs: Callable[..., Processes]) -> None:
    with connected(local_url) as log:
        # One record takes 2 s: the graceful stop would wait for the batch of 20 (40 s).
        env, _ = setup(log, local_url, 50, 1, STROM_T_SLEEP_MS="2000", STROM_T_BATCH="20")
        group = procs(**env)
        proc = group.start()
        deadline = time.monotonic() + 20
        while "assigned" not in group.stderr(proc):
            assert time.monotonic() < deadline, group.stderr(proc)
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        # A graceful stop would need the rest of the batch: 38 s or more.
        assert proc.wait(20) == 128 + signal.SIGTERM
        assert "second SIGTERM, exiting now" in group.stderr(proc)
