"""Helpers for the log contract suite: topics with unique names and bounded polling loops.

Everything here goes through the Protocols of :mod:`strom.log.protocols` only, so the same
helpers serve every backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from strom.log import Admin, Consumer, Log, Producer, Record, RecordMetadata, TopicPartition
from strom.log.types import OFFSET_BEGINNING, TopicSpec
from tests.conftest import unique

# Upper bound of every wait in the suite: far above what a healthy broker needs, so a slow
# machine never fails a test, yet a broken backend fails it instead of hanging.
WAIT = 30.0


def make_topic(
    log: Log,
    prefix: str = "contract",
    *,
    partitions: int = 1,
    config: Mapping[str, str] | None = None,
) -> str:
    """Create a topic with a unique name and return the name."""
    name = unique(prefix)
    admin = log.admin()
    try:
        admin.create_topics([TopicSpec(name, partitions=partitions, config=dict(config or {}))])
    finally:
        admin.close()
    return name


def with_admin(log: Log, action: Callable[[Admin], object]) -> object:
    """Run ``action`` with a fresh admin client and close it."""
    admin = log.admin()
    try:
        return action(admin)
    finally:
        admin.close()


def send_all(
    producer: Producer,
    topic: str,
    items: Sequence[tuple[bytes | None, bytes | None]],
    *,
    partition: int | None = None,
) -> list[RecordMetadata]:
    """Send (key, value) pairs, flush, and return the delivery metadata in send order."""
    results: list[RecordMetadata | None] = [None] * len(items)
    errors: list[Exception] = []

    def on_delivery_for(index: int) -> Callable[[RecordMetadata | None, Exception | None], None]:
        def on_delivery(meta: RecordMetadata | None, error: Exception | None) -> None:
            if error is not None:
                errors.append(error)
            results[index] = meta

        return on_delivery

    for index, (key, value) in enumerate(items):
        producer.send(topic, value, key, partition=partition, on_delivery=on_delivery_for(index))
    producer.flush(WAIT)
    assert not errors, errors
    assert all(meta is not None for meta in results), "a delivery callback was not called"
    return [meta for meta in results if meta is not None]


def poll_until(
    consumer: Consumer,
    done: Callable[[list[Record]], bool],
    *,
    timeout: float = WAIT,
    step: float = 0.5,
) -> list[Record]:
    """Poll, accumulating records, until ``done(records)`` or ``timeout`` seconds pass."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    while not done(records) and time.monotonic() < deadline:
        records.extend(consumer.poll(max_records=500, timeout=step))
    return records


def poll_count(consumer: Consumer, count: int, *, timeout: float = WAIT) -> list[Record]:
    """Poll until at least ``count`` records arrived (or ``timeout`` passes)."""
    return poll_until(consumer, lambda records: len(records) >= count, timeout=timeout)


def read_all(log: Log, topic: str, partitions: int, *, expect: int | None = None) -> list[Record]:
    """Every record of ``topic`` from the beginning, read by a group-less consumer.

    Reads until ``expect`` records arrived, or (when ``expect`` is None) until the position of
    every partition reached its high watermark.
    """
    consumer = log.consumer()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, OFFSET_BEGINNING)
        if expect is not None:
            return poll_count(consumer, expect)
        highs = {tp: consumer.watermarks(tp)[1] for tp in tps}

        def caught_up(records: list[Record]) -> bool:
            seen = {tp: -1 for tp in tps}
            for record in records:
                seen[record.topic_partition] = max(seen[record.topic_partition], record.offset)
            return all(
                seen[tp] + 1 >= highs[tp] or (consumer.position(tp) or 0) >= highs[tp] for tp in tps
            )

        return poll_until(consumer, caught_up)
    finally:
        consumer.close()


def wait_until(predicate: Callable[[], bool], *, timeout: float = WAIT, step: float = 0.2) -> bool:
    """Evaluate ``predicate`` until true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def by_partition(records: Sequence[Record]) -> dict[int, list[Record]]:
    """Records grouped by partition number, in the order they were read."""
    out: dict[int, list[Record]] = {}
    for record in records:
        out.setdefault(record.partition, []).append(record)
    return out
