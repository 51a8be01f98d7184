"""Reading a partition: fetches decoded into records as they are taken."""

from __future__ import annotations

from collections.abc import Callable

from strom.log import TopicPartition
from strom.log.local import LocalLog
from strom.log.local.reader import PartitionReader
from tests.unit.log.local.conftest import create


def produce_batches(log: LocalLog, batches: int, size: int) -> list[bytes]:
    """``batches`` flushes of ``size`` records each (one record batch per flush)."""
    producer = log.producer()
    values = []
    for b in range(batches):
        for i in range(size):
            value = f"{b}-{i}".encode() * (1 + i % 3)  # lengths vary within a batch
            producer.send("t", value, None if i % 2 else f"k{i}".encode())
            values.append(value)
        producer.flush(5)
    producer.close()
    return values


def test_a_fetch_hands_out_records_across_batches_from_the_offset(
    open_log: Callable[..., LocalLog],
) -> None:
    log = open_log()
    create(log, "t")
    values = produce_batches(log, 3, 7)
    fetch, next_offset = PartitionReader(log.partition("t", 0)).read(3, 1 << 20)
    assert fetch is not None and next_offset == 21
    taken = [fetch.take(5) for _ in range(5)]
    assert [len(t) for t in taken] == [5, 5, 5, 3, 0]
    records = [r for t in taken for r in t]
    assert [r.offset for r in records] == list(range(3, 21))
    assert [r.value for r in records] == values[3:]
    assert records[0].key is None and records[1].key == b"k4"


def test_small_polls_and_a_seek_inside_a_fetch(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t")
    values = produce_batches(log, 3, 10)
    consumer = log.consumer()
    tp = TopicPartition("t", 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    first = consumer.poll(max_records=4, timeout=1)
    second = consumer.poll(max_records=4, timeout=1)
    assert [r.offset for r in first + second] == list(range(8))
    assert consumer.position(tp) == 8
    consumer.seek(tp, 5)  # back into what was already fetched
    again = consumer.poll(max_records=100, timeout=1)
    assert [r.offset for r in again][:3] == [5, 6, 7]
    rest = again
    for _ in range(20):
        if rest[-1].offset == 29:
            break
        rest = rest + consumer.poll(max_records=100, timeout=1)
    assert [r.value for r in rest] == values[5:]
    consumer.close()
