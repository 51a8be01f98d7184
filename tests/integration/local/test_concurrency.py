"""Several processes on one log: producers, a consumer group, members that die or hang."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from strom.log import TopicSpec
from strom.log.local import LocalLog
from tests.integration.local.support import Worker

RECORDS_PER_PRODUCER = 2000


def make_topic(path: Path, name: str, partitions: int) -> None:
    log = LocalLog(path, {"fsync": "none"})
    log.admin().create_topics([TopicSpec(name, partitions)])
    log.close()


def consumed(outputs: list[Path]) -> list[tuple[int, int, str]]:
    out = []
    for path in outputs:
        if path.exists():
            for line in path.read_text().splitlines():
                partition, offset, value = line.split(" ", 2)
                out.append((int(partition), int(offset), value))
    return out


@pytest.mark.slow
def test_two_producers_two_consumers_every_record_once(tmp_path: Path) -> None:
    path = tmp_path / "log"
    make_topic(path, "t", 4)
    stop = tmp_path / "stop"
    outputs = [tmp_path / "c0.txt", tmp_path / "c1.txt"]
    first = Worker("consumer", path, "t", "group", outputs[0], stop)
    first.wait_for(lambda lines: "started" in lines)
    phase1 = [Worker("writer", path, "t", "batch", f"a{i}", RECORDS_PER_PRODUCER) for i in range(2)]
    # The second member joins while the first one still works: a rebalance mid-stream.
    second = Worker("consumer", path, "t", "group", outputs[1], stop)
    second.wait_for(lambda lines: "started" in lines)
    phase2 = [Worker("writer", path, "t", "batch", f"b{i}", RECORDS_PER_PRODUCER) for i in range(2)]
    for producer in phase1 + phase2:
        assert producer.finish()[-1].startswith("done")

    expected = {f"{p}{i}-{n}" for p in "ab" for i in range(2) for n in range(RECORDS_PER_PRODUCER)}
    deadline = time.monotonic() + 60
    while {v for _, _, v in consumed(outputs)} != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.touch()
    first.finish()
    second.finish()

    records = consumed(outputs)
    values = [v for _, _, v in records]
    assert set(values) == expected
    assert len(values) == len(expected), "some records were consumed twice"
    assert all(path.stat().st_size > 0 for path in outputs), "both members took part"
    per_partition: dict[int, list[int]] = {}
    for partition, offset, _ in records:
        per_partition.setdefault(partition, []).append(offset)
    for offsets in per_partition.values():
        assert sorted(offsets) == list(range(len(offsets)))


def assignment(worker: Worker) -> tuple[list[int], int]:
    for line in reversed(worker.lines):
        if line.startswith("assignment"):
            _, parts, _, lost = line.split(" ", 3)
            return json.loads(parts), int(lost)
    return [], 0


@pytest.mark.slow
def test_a_killed_member_is_replaced_at_once(tmp_path: Path) -> None:
    path = tmp_path / "log"
    make_topic(path, "t", 4)
    # A long session: only the released flock can tell the survivor so quickly.
    a = Worker("member", path, "t", "g", 60_000)
    b = Worker("member", path, "t", "g", 60_000)
    a.wait_for(lambda _: len(assignment(a)[0]) == 2 and len(assignment(b)[0]) == 2)
    a.kill()
    b.wait_for(lambda _: assignment(b)[0] == [0, 1, 2, 3], timeout=10)
    (path / "stop-members").touch()
    b.finish()


@pytest.mark.slow
def test_a_hung_member_expires_and_learns_it_lost_its_partitions(tmp_path: Path) -> None:
    path = tmp_path / "log"
    make_topic(path, "t", 2)
    a = Worker("member", path, "t", "g", 1000)
    b = Worker("member", path, "t", "g", 1000)
    a.wait_for(lambda _: len(assignment(a)[0]) == 1 and len(assignment(b)[0]) == 1)
    os.kill(a.proc.pid, signal.SIGSTOP)  # alive (holds its lock) but silent
    try:
        b.wait_for(lambda _: assignment(b)[0] == [0, 1], timeout=15)
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    a.wait_for(lambda _: assignment(a)[1] == 1, timeout=15)  # on_lost got its partition
    a.wait_for(lambda _: len(assignment(a)[0]) == 1 and len(assignment(b)[0]) == 1, timeout=15)
    (path / "stop-members").touch()
    a.finish()
    b.finish()
