"""Stateful steps on a real log: stores restored from their changelogs after a restart, a lost
local copy, and a rebalance that moves partitions (and their state) to another member."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path

import pytest

import strom
import strom.log
from strom.runtime.runner import Runner
from tests.conftest import unique
from tests.integration.runtime.processes import connected
from tests.integration.runtime.support import create, lag, produce, read, run_until_caught_up


def counting_app(broker: str, state_dir: Path, backend: str) -> tuple[strom.App, strom.Topic]:
    app = strom.App(
        unique("count"),
        broker=broker,
        state_backend=backend,
        state_dir=state_dir,
        commit_interval=0.2,
        shutdown_timeout=10,
    )
    events = app.topic(unique("events"), partitions=2)
    out = app.topic(unique("counts"), partitions=2)
    app.stream(events).count(name="per-key").to(out)
    return app, out


def latest(log: strom.log.Log, topic: str) -> dict[str, int]:
    """The last value written per key (records of one key stay in one partition)."""
    last: dict[str, int] = {}
    for o in read(log, topic):
        last[o.key] = o.value
    return last


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_counts_go_on_where_they_were_after_a_restart(
    broker: str, log: strom.log.Log, backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app, out = counting_app(broker, tmp_path / "state", backend)
    events = app.topics[next(n for n in app.topics if n.startswith("events"))]
    create(log, events.name, 2)
    produce(log, events, [(f"k{i % 10}", {"i": i}) for i in range(200)])
    run_until_caught_up(app, log)
    assert latest(log, out.name) == {f"k{k}": 20 for k in range(10)}

    produce(log, events, [(f"k{i % 10}", {"i": i}) for i in range(200)])
    with caplog.at_level(logging.INFO, logger="strom.runtime"):
        run_until_caught_up(app, log)
    assert latest(log, out.name) == {f"k{k}": 40 for k in range(10)}
    restored = [r.getMessage() for r in caplog.records if "restored:" in r.getMessage()]
    assert len(restored) == 2, restored
    if backend == "rocksdb":
        # The local copies were closed cleanly: nothing to read back from the changelog.
        assert all("restored: 0 changelog records" in m for m in restored), restored
    else:
        assert all("restored: 0 changelog" not in m for m in restored), restored


def test_a_lost_local_copy_is_rebuilt_from_the_changelog(
    broker: str, log: strom.log.Log, tmp_path: Path
) -> None:
    app, out = counting_app(broker, tmp_path / "state", "rocksdb")
    events = app.topics[next(n for n in app.topics if n.startswith("events"))]
    create(log, events.name, 2)
    produce(log, events, [(f"k{i % 5}", {"i": i}) for i in range(100)])
    run_until_caught_up(app, log)
    shutil.rmtree(tmp_path / "state")
    produce(log, events, [(f"k{i % 5}", {"i": i}) for i in range(100)])
    run_until_caught_up(app, log)
    assert latest(log, out.name) == {f"k{k}": 40 for k in range(5)}


@pytest.mark.kafka
def test_state_moves_with_its_partition_to_a_new_member(kafka_url: str, tmp_path: Path) -> None:
    with connected(kafka_url) as log:
        app = strom.App(
            unique("moving"),
            broker=kafka_url,
            state_backend="rocksdb",
            state_dir=tmp_path / "one",
            commit_interval=0.2,
            shutdown_timeout=5,
        )
        events = app.topic(unique("events"), partitions=4)
        out = app.topic(unique("counts"), partitions=4)
        app.stream(events).count(name="per-key").to(out)
        create(log, events.name, 4)
        produce(log, events, [(f"k{i % 12}", {"i": i}) for i in range(240)])

        first = app.runner(log)
        # The second member has a state directory of its own (another machine).
        second_settings = dataclasses.replace(app.settings, state_dir=str(tmp_path / "two"))
        second = Runner(app.graph, second_settings, log)
        first.start()
        try:
            deadline = time.monotonic() + 60
            done = 0
            while done < 240:
                assert time.monotonic() < deadline, f"processed {done}"
                done += first.step(0.1)
            first.checkpoint()
            second.start()
            deadline = time.monotonic() + 60
            while not (second.tasks and first.tasks and not _restoring(second)):
                assert time.monotonic() < deadline, "the partitions did not move"
                first.step(0.05)
                second.step(0.05)
            moved = {partition for _, partition in second.tasks}
            assert moved and second.state is not None
            produce(log, events, [(f"k{i % 12}", {"i": i}) for i in range(240)])
            deadline = time.monotonic() + 60
            while lag(log, app) > 0:
                assert time.monotonic() < deadline, "the members did not catch up"
                first.step(0.05)
                second.step(0.05)
                first.checkpoint()
                second.checkpoint()
        finally:
            second.close()
            first.close()
        # Every key counted every one of its records, across the move.
        assert latest(log, out.name) == {f"k{k}": 40 for k in range(12)}


def _restoring(runner: Runner) -> bool:
    return runner.state is not None and runner.state.restoring


def test_repartition_topics_are_purged_up_to_the_committed_offsets(
    broker: str, log: strom.log.Log, tmp_path: Path
) -> None:
    app = strom.App(
        unique("purge"),
        broker=broker,
        state_backend="memory",
        commit_interval=0.2,
    )
    events = app.topic(unique("events"), partitions=2)
    out = app.topic(unique("counts"), partitions=2)
    app.stream(events).key_by(lambda e: e["user"], name="by-user").count(name="n").to(out)
    # Purge at every commit (the default waits 30 s between purges).
    app._settings = dataclasses.replace(app.settings, purge_interval=0.1)
    create(log, events.name, 2)
    produce(log, events, [(f"k{i}", {"user": f"u{i % 4}"}) for i in range(200)])
    run_until_caught_up(app, log)
    repartition = f"{app.name}-by-user-repartition"
    admin = log.admin()
    try:
        tps = [strom.log.TopicPartition(repartition, p) for p in range(2)]
        ends = admin.end_offsets(tps)
    finally:
        admin.close()
    consumer = log.consumer()
    try:
        lows = {tp: consumer.watermarks(tp)[0] for tp in tps}
    finally:
        consumer.close()
    assert sum(ends.values()) >= 200
    # Everything committed was deleted (the last commit may come after the last purge).
    assert sum(lows.values()) > 0
    assert all(lows[tp] <= ends[tp] for tp in tps)
