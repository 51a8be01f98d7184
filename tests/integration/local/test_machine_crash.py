"""A machine crash (power cut): what was not fsync-ed is lost, and nothing must point past it.

Simulated for real: the writer is SIGKILLed, then every file loses what the kernel reports as
not yet written to disk (its dirty pages, from /proc/kpageflags), as a power cut would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from strom.log import TopicPartition
from strom.log.local import LocalLog
from tests.integration.local.support import (
    Worker,
    can_see_page_flags,
    read_partition,
    simulate_machine_crash,
)

TP = TopicPartition("t", 0)

pytestmark = pytest.mark.skipif(
    not can_see_page_flags(), reason="needs root and /proc/kpageflags to see unsynced pages"
)


def test_fsync_interval_commit_is_never_durable_before_its_records(tmp_path: Path) -> None:
    path = tmp_path / "log"
    worker = Worker("interval_commit", path, 200)
    worker.wait_for(lambda lines: any(line.startswith("committed") for line in lines))
    committed = int(next(x for x in worker.lines if x.startswith("committed")).split()[1])
    assert committed == 200
    worker.kill()
    simulate_machine_crash(path)

    log = LocalLog(path, {"fsync": "interval"})
    try:
        end = log.admin().end_offsets([TP])[TP]
        stored = log.admin().group_offsets("g").get(TP, 0)
        # At-least-once: the committed offset covers only records that survived, so no
        # record is skipped, and new records never take the offsets of lost ones.
        assert stored <= end, f"offset {stored} committed, but only {end} records survived"
        producer = log.producer()
        producer.send("t", b"after the crash")
        producer.flush(10)
        producer.close()
    finally:
        log.close()
    records = read_partition(path, "t", 0)
    assert [r.offset for r in records] == list(range(end + 1))
    assert records[stored:][-1].value == b"after the crash"
