"""Retention by size and by time."""

from __future__ import annotations

import os
from collections.abc import Callable

from strom.log import TopicPartition
from strom.log.local import LocalLog
from strom.log.local.segments import list_bases
from tests.unit.log.local.conftest import (
    ManualClock,
    as_after_machine_crash,
    create,
    produce,
    read,
)


def items(n: int, start: int = 0) -> list[tuple[bytes | None, bytes | None]]:
    return [(f"k{i}".encode(), b"x" * 100) for i in range(start, start + n)]


def partition_bytes(log: LocalLog, topic: str = "t") -> int:
    directory = log.topics.partition_dir(topic, 0)
    return sum(os.path.getsize(directory / f"{b:020d}.log") for b in list_bases(directory))


def test_retention_bytes_deletes_oldest_segments(open_log: Callable[..., LocalLog]) -> None:
    log = open_log({"batch.num.messages": "10"})
    create(log, "t", segment_bytes="4000", retention_bytes="10000")
    produce(log, "t", items(500))  # rolls run retention on the way
    log.maintain(["t"])

    low, high = log.consumer().watermarks(TopicPartition("t", 0))
    assert high == 500
    assert low > 0
    assert partition_bytes(log) <= 10000 + 4000
    records = read(log, "t", start=low)
    assert [r.offset for r in records] == list(range(low, 500))


def test_retention_ms_deletes_old_segments_and_an_expired_active_one(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log(clock=clock)
    create(log, "t", retention_ms="60000", segment_ms="1000")
    produce(log, "t", items(5))
    clock.advance(2)
    produce(log, "t", items(5, 5))  # rolls: segment [0, 5) is sealed
    clock.advance(30)
    log.maintain(["t"])
    tp = TopicPartition("t", 0)
    assert log.consumer().watermarks(tp) == (0, 10)  # nothing older than 60 s yet

    clock.advance(29)  # the first segment's records are now 61 s old, the second's 59 s
    log.maintain(["t"])
    assert log.consumer().watermarks(tp) == (5, 10)

    clock.advance(10)  # everything expired: the active segment is rolled and deleted too
    log.maintain(["t"])
    assert log.consumer().watermarks(tp) == (10, 10)
    produce(log, "t", items(1))  # offsets go on
    assert [r.offset for r in read(log, "t", start=10)] == [10]


def test_consumer_behind_the_log_start_is_reset(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log(clock=clock)
    create(log, "t", retention_ms="1000", segment_ms="100")
    produce(log, "t", items(3))
    consumer = log.consumer("g")
    tp = TopicPartition("t", 0)
    consumer.assign([tp])
    consumer.commit({tp: 1})
    clock.advance(5)
    produce(log, "t", items(2, 3))  # rolls; retention then deletes [0, 3)
    assert consumer.watermarks(tp)[0] == 3

    fresh = log.consumer("g")
    fresh.assign([tp])  # committed offset 1 no longer exists: auto_offset_reset=earliest
    assert [r.offset for r in fresh.poll(timeout=1)] == [3, 4]
    consumer.close()
    fresh.close()


def test_compacted_topics_are_not_deleted_by_retention(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log(clock=clock)
    create(log, "t", cleanup_policy="compact", retention_ms="1000", segment_ms="100")
    produce(log, "t", items(3))
    clock.advance(10)
    produce(log, "t", items(3, 3))
    log.maintain(["t"])
    assert log.consumer().watermarks(TopicPartition("t", 0))[0] == 0


def test_delete_records_drops_whole_segments_and_survives_a_restart(
    open_log: Callable[..., LocalLog],
) -> None:
    log = open_log({"batch.num.messages": "10"})
    create(log, "t", segment_bytes="2000")
    produce(log, "t", items(200))
    directory = log.topics.partition_dir("t", 0)
    bases = list_bases(directory)
    cut = bases[3] + 2  # inside a segment
    log.admin().delete_records({TopicPartition("t", 0): cut})
    assert list_bases(directory)[0] == bases[3]  # the three segments below are gone
    assert log.consumer().watermarks(TopicPartition("t", 0)) == (cut, 200)
    assert [r.offset for r in read(log, "t", start=cut)] == list(range(cut, 200))
    log.close()

    as_after_machine_crash(directory)  # the head is rebuilt from the files
    log = open_log()
    assert log.consumer().watermarks(TopicPartition("t", 0)) == (cut, 200)
    produce(log, "t", items(1))  # a writer recovers: the low watermark holds
    assert log.consumer().watermarks(TopicPartition("t", 0)) == (cut, 201)
