"""The runtime under real faults: a broker restarted, a sink failing in a rebalance, records
fetched for partitions that moved, outputs the broker refuses, a member paused past its
session, a blocked step. Each test injects the fault for real (processes, signals, a broker
stopped and started) and checks what a user would: nothing lost, nothing repeated where the
guarantee forbids it, the application still running, health telling the truth."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import confluent_kafka
import pytest

import strom
import strom.log
from strom.dead_letter import parse
from strom.log import TopicPartition, TopicSpec
from tests.conftest import unique
from tests.contract.log_support import read_all
from tests.integration.runtime.processes import Outputs, Processes, connected, setup, stop
from tests.integration.runtime.support import create, produce, read, run_until_caught_up
from tests.kafka_broker import broker


@pytest.mark.kafka
def test_a_broker_restart_does_not_stop_the_app_nor_lose_records(
    own_broker: tuple[str, Path], procs: Callable[..., Processes]
) -> None:
    url, run = own_broker
    n = 1000
    with connected(url) as log:
        env, out = setup(log, url, n, 4, STROM_T_REKEY="1", STROM_T_SLEEP_MS="1")
        group = procs(**env)
        outputs = Outputs(log, out, 4)
        try:
            proc = group.start()
            outputs.wait(lambda: len(outputs.values) >= 100, "the first outputs")
            broker("down", run)
            time.sleep(4)  # the app polls, commits and flushes against a dead broker
            broker("start", run)
            topic = strom.App("producer", broker=url).topic(env["STROM_T_IN"])
            produce(log, topic, [(f"k{i}", {"n": i}) for i in range(n, 2 * n)])
            outputs.wait(lambda: len(outputs.distinct) == 2 * n, "every input's output", 120)
            assert proc.poll() is None, group.stderr(proc)
            assert stop(proc) == 0, group.stderr(proc)
        finally:
            outputs.close()
    assert outputs.distinct == set(range(2 * n))


@pytest.mark.kafka
def test_a_sink_failing_in_a_cooperative_rebalance_loses_nothing(
    kafka_url: str, procs: Callable[..., Processes], tmp_path: Path
) -> None:
    n = 800
    sink = tmp_path / "sink"
    with connected(kafka_url) as log:
        env, out = setup(
            log,
            kafka_url,
            n,
            4,
            STROM_T_COOPERATIVE="1",
            STROM_T_SINK=str(sink),
            # Only the rebalance (and the final stop) commit.
            STROM_T_COMMIT_INTERVAL="3600",
        )
        group = procs(**env)
        outputs = Outputs(log, out, 4)
        try:
            first = group.start()
            outputs.wait(lambda: len(outputs.distinct) == n, "the first process to finish")
            # Its first flush is the checkpoint of the revoke the second process causes.
            Path(f"{sink}.fail").touch()
            second = group.start()
            deadline = time.monotonic() + 60
            while Path(f"{sink}.fail").exists() or "assigned" not in group.stderr(second):
                assert time.monotonic() < deadline, group.stderr(first)
                time.sleep(0.1)
            time.sleep(1.0)  # let the first process re-read what it keeps
            assert stop(second) == 0, group.stderr(second)
            assert stop(first) == 0, group.stderr(first)
        finally:
            outputs.close()
        inputs = read(log, env["STROM_T_IN"])
        admin = log.admin()
        done = admin.group_offsets(env["STROM_T_APP"])
        admin.close()
    assert "could not checkpoint before the rebalance" in group.stderr(first)
    written: set[int] = set()
    for path in tmp_path.glob("sink.*"):
        written |= {int(line) for line in path.read_text().split()}
    # Every record the group committed reached the sink (at least once).
    committed = {
        r.value["n"]
        for r in inputs
        if r.offset < done.get(TopicPartition(env["STROM_T_IN"], r.partition), 0)
    }
    # At least the partitions the first process kept (half of them) were committed.
    assert len(committed) >= n // 4, "the test committed too little to say anything"
    assert committed - written == set()


@pytest.mark.kafka
def test_an_output_the_broker_refuses_goes_to_the_dead_letter_topic(kafka_url: str) -> None:
    with connected(kafka_url) as log:
        app = strom.App(
            unique("refused"),
            broker=kafka_url,
            on_error=strom.errors.dead_letter(unique("dlq")),
            # Batches stay below the topic's limit; one oversized record does not.
            producer_options={"batch.size": 16384},
        )
        source = app.topic(unique("in"))
        sink = app.topic(unique("out"))
        create(log, source.name, 2)
        admin = log.admin()
        admin.create_topics([TopicSpec(sink.name, 2, {"max.message.bytes": "20000"})])
        admin.close()
        app.stream(source).map(
            lambda v: {**v, "pad": "x" * (30_000 if v["n"] % 100 == 7 else 10)}, name="pad"
        ).to(sink)
        produce(log, source, [(f"k{i}", {"n": i}) for i in range(500)])
        run_until_caught_up(app, log, timeout=120)
        # At least once: the re-read after the refusal repeats outputs, never loses one.
        written = {o.value["n"] for o in read(log, sink.name)}
        refused = [i for i in range(500) if i % 100 == 7]
        assert written == set(range(500)) - set(refused)
        dlq = app.settings.on_error.topic  # type: ignore[union-attr]
        admin = log.admin()
        dlq_partitions = admin.describe_topic(dlq).partitions
        admin.close()
        letters = [parse(r) for r in read_all(log, dlq, dlq_partitions)]
        assert sorted(json.loads(d.value or b"")["n"] for d in letters) == refused
        assert all(d.failure.step.startswith("to") for d in letters), letters
        assert all("refused" in d.failure.message for d in letters), letters


@pytest.mark.parametrize("broker", ["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def test_at_most_once_survives_a_failed_commit_and_repeats_nothing(
    broker: str, request: pytest.FixtureRequest, procs: Callable[..., Processes]
) -> None:
    url = str(request.getfixturevalue(f"{broker}_url"))
    n = 600
    with connected(url) as log:
        env, out = setup(
            log,
            url,
            n,
            2,
            STROM_T_GUARANTEE="at-most-once",
            STROM_T_SLEEP_MS="10",
            STROM_T_BATCH="20",
            STROM_T_SESSION_MS="6000",
        )
        group = procs(**env)
        outputs = Outputs(log, out, 2)
        try:
            proc = group.start()
            outputs.wait(lambda: len(outputs.values) >= 50, "the first outputs")
            # Paused past its session: the group drops it, its next commit is refused.
            os.kill(proc.pid, signal.SIGSTOP)
            time.sleep(9)
            os.kill(proc.pid, signal.SIGCONT)
            outputs.wait(lambda: len(outputs.distinct) >= n - 40, "the rest of the inputs", 120)
            assert proc.poll() is None, group.stderr(proc)
            assert stop(proc) == 0, group.stderr(proc)
            outputs.poll()
        finally:
            outputs.close()
    ns = [v["n"] for v in outputs.values]
    assert len(ns) == len(set(ns)), "at-most-once repeated a record"


def test_a_blocked_step_makes_health_fail(local_url: str) -> None:
    release = threading.Event()
    app = strom.App(
        unique("stall"), broker=local_url, metrics_port=0, stall_timeout=0.5, shutdown_timeout=5
    )
    source = app.topic(unique("in"), partitions=1)
    app.stream(source).for_each(lambda v: release.wait(30), name="block")
    with connected(local_url) as log:
        create(log, source.name, 1)
        produce(log, source, [("k", {"n": 1})])
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            runner = app._runner
            server = runner.operations.server if runner is not None else None
            if server is not None and runner is not None and runner.tasks:
                break
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.05)
        url = f"http://127.0.0.1:{server.port}/health"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert response.status == 200
            except urllib.error.HTTPError as failed:
                assert failed.code == 503
                body = json.loads(failed.read())
                assert "made no progress" in body["error"], body
                break
            assert time.monotonic() < deadline, "health stayed 200 while the step blocked"
            time.sleep(0.1)
    finally:
        release.set()
        app.stop()
        thread.join(30)


def _take_instance_id(bootstrap: str, group: str, instance: str, topic: str) -> None:
    """Join ``group`` with ``instance`` (fencing the member that has it), then go away."""
    assigned = threading.Event()
    rogue = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.instance.id": instance,
            "session.timeout.ms": 6000,
            "enable.auto.commit": False,
        }
    )
    try:
        rogue.subscribe([topic], on_assign=lambda _c, _p: assigned.set())
        deadline = time.monotonic() + 60
        while not assigned.is_set():
            assert time.monotonic() < deadline, "the rogue member was never assigned"
            rogue.poll(0.2)
    finally:
        rogue.close()  # a static member does not leave: its id stays taken


@pytest.mark.kafka
@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_a_fenced_static_member_rejoins_and_loses_nothing(
    kafka_url: str, procs: Callable[..., Processes], guarantee: str
) -> None:
    # Static membership: another member joins with the app's group.instance.id mid-run (as
    # a deploy overlapping the old process, or a broker restarted mid-rebalance that holds an
    # older member id). The app must rejoin, not stop, and under exactly-once never commit
    # the open transaction of partitions it no longer owns.
    n = 400
    with connected(kafka_url) as log:
        env, out = setup(
            log,
            kafka_url,
            n,
            4,
            STROM_T_INSTANCE="member-1",
            STROM_T_GUARANTEE=guarantee,
            STROM_T_SLEEP_MS="10",
        )
        group = procs(**env)
        outputs = Outputs(log, out, 4)
        try:
            proc = group.start()
            outputs.wait(lambda: len(outputs.values) >= 100, "the first outputs")
            bootstrap = kafka_url.removeprefix("kafka://")
            _take_instance_id(bootstrap, env["STROM_T_APP"], "member-1", env["STROM_T_IN"])
            topic = strom.App("producer", broker=kafka_url).topic(env["STROM_T_IN"])
            produce(log, topic, [(f"k{i}", {"n": i}) for i in range(n, 2 * n)])
            outputs.wait(
                lambda: proc.poll() is not None or len(outputs.distinct) == 2 * n,
                "every input's output",
                120,
            )
            assert proc.poll() is None, group.stderr(proc)
            assert stop(proc) == 0, group.stderr(proc)
        finally:
            outputs.close()
    assert "this member was fenced" in group.stderr(proc)
    assert outputs.distinct == set(range(2 * n))
    if guarantee == "exactly-once":
        assert len(outputs.values) == 2 * n, "an output was written twice"
