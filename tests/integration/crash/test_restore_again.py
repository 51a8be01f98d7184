"""A store partition that comes back to a process restores what was written while it was away.

Found by the crash harness's zombie cases on Kafka after 6be19f8/5a46b14 (issue 13), fixed
since (a new restore resets the partition's progress clock and resumes it): a process
restored a store partition, lost it to another process (which went on writing its changelog),
and got it back; the second restore logged "restoring 29 changelog records" then "restored: 0
changelog records in 0.00 s": the state stayed where the process had left it, and its counts
repeated values the other process had already written (3,662 counts written twice and as
many never written in one zombie case). The restore's progress clock for a changelog
partition (``StateTasks._moved_at``) and its pause (finished partitions are paused on the
restore consumer) outlive the restore, so a later restore of the same partition is at once
taken for stalled at its end. This test: the first process's counts of the keys of that
partition go 1..16, then 12, 13, ... (its state of before the second process took over).
Reproduce with the harness: ``python -m tests.crash run --log
kafka --kills 0 --zombies 3``; or with this test: two processes (threads with their own
state directories) share the partitions, then one leaves; three times.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

import strom
import strom.log
from tests.conftest import unique
from tests.integration.runtime.processes import connected
from tests.integration.runtime.support import create, lag, produce, read

KEYS = [f"k{i}" for i in range(12)]


def _app(url: str, name: str, source: str, out: str, state_dir: Path) -> strom.App:
    app = strom.App(
        name,
        broker=url,
        guarantee="exactly-once",
        commit_interval=0.1,
        state_dir=state_dir,
        consumer_options={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
    )
    app.stream(app.topic(source)).count(name="per-key").to(app.topic(out))
    return app


class Running:
    """``app.run()`` in a thread."""

    def __init__(self, app: strom.App, log: strom.log.Log) -> None:
        self.app = app
        self.error: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(log.url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        try:
            self.app.run(broker=url)
        except BaseException as exc:
            self.error.append(exc)

    def tasks(self) -> int:
        runner = self.app._runner
        return len(runner.tasks) if runner is not None else 0

    def stop(self) -> None:
        self.app.stop()
        self.thread.join(60)
        assert not self.thread.is_alive(), "app.run() did not return after stop()"
        if self.error:
            raise self.error[0]


def _wait(what: str, done: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.kafka
def test_a_store_partition_back_in_a_process_restores_what_was_written_meanwhile(
    kafka_url: str, tmp_path: Path
) -> None:
    name, source, out = unique("again"), unique("in"), unique("out")
    with connected(kafka_url) as log:
        create(log, source, 2)
        create(log, out, 2)
        first = _app(kafka_url, name, source, out, tmp_path / "a")
        topic = first.topic(source)

        def caught_up() -> bool:
            try:
                return lag(log, first) == 0
            except strom.errors.TopicNotFoundError:
                return False

        a = Running(first, log)
        produce(log, topic, [(k, {"n": i}) for i in range(5) for k in KEYS])
        _wait("the first process to catch up", caught_up)
        n = 5
        # A second process joins, counts on its partition (and writes its changelog), leaves;
        # again: the first process restores a partition it has restored before.
        for round_ in range(3):
            b = Running(_app(kafka_url, name, source, out, tmp_path / f"b{round_}"), log)
            _wait("the partitions to be shared", lambda b=b: a.tasks() == 1 and b.tasks() == 1)
            produce(log, topic, [(k, {"n": i}) for i in range(n, n + 5) for k in KEYS])
            n += 5
            _wait("both processes to catch up", caught_up)
            b.stop()
            _wait("the first process to own both partitions", lambda: a.tasks() == 2)
            produce(log, topic, [(k, {"n": n}) for k in KEYS])
            n += 1
            _wait("the first process to catch up again", caught_up)
        a.stop()
        counts: dict[str, list[int]] = defaultdict(list)
        for o in read(log, out):
            counts[o.key].append(o.value)
    assert sorted(counts) == sorted(KEYS)
    wrong = {k: v for k, v in counts.items() if v != list(range(1, n + 1))}
    assert not wrong, f"{len(wrong)} keys' counts are not 1..{n}: {dict(list(wrong.items())[:2])}"
