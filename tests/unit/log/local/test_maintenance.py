"""Retention and compaction run beside the appends, never in their way."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from strom.log import RecordMetadata
from strom.log.local import LocalLog
from tests.unit.log.local.conftest import ManualClock, create, read

COMPACTED = {"cleanup_policy": "compact", "segment_ms": "1000", "min_cleanable_dirty_ratio": "0"}


class HoldCompaction(logging.Handler):
    """Stops the thread that starts a compaction until released (a compaction that takes
    as long as the test needs), and tells when one started."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started = threading.Event()
        self.release = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("compacting"):
            self.started.set()
            self.release.wait(60)


def test_appends_keep_flowing_while_a_compaction_runs(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log(clock=clock)
    create(log, "t", **COMPACTED)
    hold = HoldCompaction()
    logger = logging.getLogger("strom.log.local.compaction")
    logger.addHandler(hold)
    logger.setLevel(logging.INFO)
    producer = log.producer(options={"linger.ms": "1"})
    delivered: list[int] = []

    def on_delivery(meta: RecordMetadata | None, error: Exception | None) -> None:
        assert meta is not None, error
        delivered.append(meta.offset)

    def send_and_wait(count: int, start: int) -> None:
        """Send without flush(): only the producer's own writer thread can deliver them."""
        before = len(delivered)
        for i in range(start, start + count):
            producer.send("t", f"v{i}".encode(), f"k{i % 50}".encode(), on_delivery=on_delivery)
        deadline = time.monotonic() + 30
        while len(delivered) < before + count and time.monotonic() < deadline:
            producer.poll(0.05)

    try:
        send_and_wait(2000, 0)
        clock.advance(2)  # the next append rolls the segment: a compaction is due
        send_and_wait(10, 2000)
        assert hold.started.wait(30), "no compaction started"
        send_and_wait(500, 2010)  # while the compaction is held
        assert not hold.release.is_set()
        assert delivered == list(range(2510))
    finally:
        hold.release.set()
        producer.close()
        logger.removeHandler(hold)
    kept = read(log, "t")
    assert {r.key for r in kept} == {f"k{i}".encode() for i in range(50)}
    assert kept[-1].offset == 2509
