"""Rebalancing between two runners of one application: revoke checkpoints, assign resumes."""

from __future__ import annotations

import time

import strom
import strom.log
from strom.log import TopicPartition
from tests.conftest import unique
from tests.integration.runtime.support import create, produce, read


def test_revoked_partitions_are_committed_before_they_move(broker: str, log: strom.log.Log) -> None:
    # No periodic checkpoint: only the revoke can commit.
    app = strom.App(unique("app"), broker=broker, commit_interval=3600, shutdown_timeout=5)
    events = app.topic(unique("events"), partitions=4)
    out = app.topic(unique("out"), partitions=1)
    app.stream(events).map(lambda n: n * 2, name="double").to(out)
    create(log, events.name, 4)
    produce(log, events, [(f"k{n}", n) for n in range(400)])

    first = app.runner(log)
    first.start()
    second = app.runner(log)
    try:
        processed = 0
        deadline = time.monotonic() + 30
        while processed < 400:
            assert time.monotonic() < deadline, f"processed only {processed}"
            processed += first.step(0.1)
        admin = log.admin()
        assert admin.group_offsets(app.name) == {}

        second.start()
        deadline = time.monotonic() + 60
        while not (first.tasks and second.tasks):
            assert time.monotonic() < deadline, "the second runner got no partitions"
            processed += first.step(0.05) + second.step(0.05)
        # The first runner committed what it had processed before letting go of it.
        ends = {TopicPartition(events.name, p): 0 for p in range(4)}
        ends.update(admin.end_offsets(list(ends)))
        assert admin.group_offsets(app.name) == ends
        admin.close()
        # So the second runner had nothing to repeat.
        assert processed == 400
    finally:
        second.close()
        first.close()
    assert sorted(o.value for o in read(log, out.name)) == [n * 2 for n in range(400)]
