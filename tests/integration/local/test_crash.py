"""Writers killed with SIGKILL in the middle of appending: nothing acknowledged is lost."""

from __future__ import annotations

import glob
import platform
import time
from pathlib import Path

import pytest

from strom.log import TopicSpec
from strom.log.local import LocalLog
from strom.log.local.head import Head
from tests.integration.local.support import Worker, read_partition


def make_topic(path: Path, name: str, partitions: int = 1, **config: str) -> None:
    log = LocalLog(path, {"fsync": "none"})
    configs = {k.replace("_", "."): v for k, v in config.items()}
    log.admin().create_topics([TopicSpec(name, partitions, configs)])
    log.close()


def acks(lines: list[str]) -> dict[str, tuple[int, int]]:
    """value -> (partition, offset) of every acknowledged record."""
    out = {}
    for line in lines:
        parts = line.split()
        if parts and parts[0] == "ack":
            prefix, partition, offset = parts[1], int(parts[2]), int(parts[3])
            out[f"{prefix}@{partition}@{offset}"] = (partition, offset)
    return out


def check_partition(path: Path, topic: str, partition: int, acked_offsets: set[int]) -> int:
    records = read_partition(path, topic, partition)  # raises if a damaged batch is served
    offsets = [r.offset for r in records]
    assert offsets == list(range(len(offsets))), "offsets must be continuous from 0"
    assert acked_offsets <= set(offsets), (
        f"lost acknowledged offsets: {sorted(acked_offsets - set(offsets))[:5]}"
    )
    return len(offsets)


@pytest.mark.slow
@pytest.mark.parametrize("fsync", ["batch", "none"])
def test_killed_writer_loses_nothing_acknowledged(tmp_path: Path, fsync: str) -> None:
    path = tmp_path / "log"
    make_topic(path, "t", segment_bytes="20000")
    acked: set[int] = set()
    for round_ in range(3):
        worker = Worker("writer", path, "t", fsync, f"w{round_}", 0)
        worker.wait_for(lambda lines: len(acks(lines)) >= 300)
        worker.kill()  # in the middle of the append loop
        acked |= {offset for _, offset in acks(worker.lines).values()}
        total = check_partition(path, "t", 0, acked)
        assert total >= len(acked)


@pytest.mark.slow
def test_two_writers_one_killed(tmp_path: Path) -> None:
    path = tmp_path / "log"
    make_topic(path, "t", partitions=2)
    survivor = Worker("writer", path, "t", "batch", "alive", 2000)
    victim = Worker("writer", path, "t", "batch", "victim", 0)
    victim.wait_for(lambda lines: len(acks(lines)) >= 200)
    victim.kill()
    lines = survivor.finish()
    assert lines[-1] == "done alive"
    for partition in (0, 1):
        acked = {
            o
            for (p, o) in list(acks(lines).values()) + list(acks(victim.lines).values())
            if p == partition
        }
        check_partition(path, "t", partition, acked)
    values = [r.value for p in (0, 1) for r in read_partition(path, "t", p)]
    survivor_values = {v for v in values if v and v.startswith(b"alive-")}
    assert len(survivor_values) == 2000  # every record of the writer that lived, once


FDATASYNC = {"x86_64": 75, "aarch64": 83}.get(platform.machine())


def kill_inside_fdatasync(worker: Worker, timeout: float = 20) -> None:
    """SIGKILL the worker while one of its threads is blocked in fdatasync (Linux /proc)."""
    deadline = time.monotonic() + timeout
    readable = False
    while time.monotonic() < deadline:
        for name in glob.glob(f"/proc/{worker.proc.pid}/task/*/syscall"):
            try:
                number = Path(name).read_text().split()[0]
            except (OSError, IndexError):
                continue
            readable = True
            if number == str(FDATASYNC):
                worker.kill()
                return
    if not readable:
        pytest.skip("cannot read /proc/<pid>/task/*/syscall here to time the kill")
    raise AssertionError("the writer was never seen inside fdatasync")


@pytest.mark.slow
@pytest.mark.skipif(FDATASYNC is None, reason="fdatasync syscall number unknown for this CPU")
def test_killed_inside_fsync_exposes_nothing_unacknowledged(tmp_path: Path) -> None:
    path = tmp_path / "log"
    make_topic(path, "t", segment_bytes="1073741824")
    victim = Worker("writer", path, "t", "batch", "big", 0, 100_000)
    victim.wait_for(lambda lines: len(acks(lines)) >= 5)
    kill_inside_fdatasync(victim)
    acked = {offset for _, offset in acks(victim.lines).values()}

    directory = path / "topics" / "t" / "0"
    head = Head(directory / "head").read()
    assert head is not None
    segment = directory / f"{head.active_base:020d}.log"
    assert segment.stat().st_size > head.active_end  # written, never acknowledged

    before = read_partition(path, "t", 0)
    assert [r.offset for r in before] == list(range(head.next_offset))
    assert acked <= {r.offset for r in before}
    lines = Worker("writer", path, "t", "batch", "next", 10).finish()
    assert lines[-1] == "done next"
    after = read_partition(path, "t", 0)
    assert [r.offset for r in after] == list(range(head.next_offset + 10))
    assert [r.key for r in after[-10:]] == [f"next-{i}".encode() for i in range(10)]
