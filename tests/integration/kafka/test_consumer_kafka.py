"""Kafka-specific consumer behaviour beyond the log contract: cooperative rebalancing through
librdkafka options, ``auto.offset.reset=error``, and positions after a seek."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import strom.log
from strom.errors import BrokerError
from strom.log import Consumer, Log, TopicPartition
from tests.conftest import unique
from tests.contract.log_support import make_topic, poll_count, send_all, wait_until

pytestmark = pytest.mark.kafka

COOPERATIVE = {"partition.assignment.strategy": "cooperative-sticky"}


@pytest.fixture
def kafka(kafka_url: str) -> Iterator[Log]:
    log = strom.log.connect(kafka_url)
    try:
        yield log
    finally:
        log.close()


class Calls:
    """Every rebalance callback of one consumer, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, frozenset[TopicPartition]]] = []
        self.owned: set[TopicPartition] = set()

    def subscribe(self, consumer: Consumer, topic: str) -> None:
        consumer.subscribe([topic], on_assign=self.assign, on_revoke=self.revoke)

    def assign(self, parts: list[TopicPartition]) -> None:
        self.events.append(("assign", frozenset(parts)))
        self.owned |= set(parts)

    def revoke(self, parts: list[TopicPartition]) -> None:
        self.events.append(("revoke", frozenset(parts)))
        self.owned -= set(parts)


def test_cooperative_rebalance_moves_only_what_changes(kafka: Log) -> None:
    topic = make_topic(kafka, partitions=4)
    everything = {TopicPartition(topic, p) for p in range(4)}
    group = unique("coop")
    first = kafka.consumer(group, options=COOPERATIVE)
    second = kafka.consumer(group, options=COOPERATIVE)
    first_calls, second_calls = Calls(), Calls()
    try:
        first_calls.subscribe(first, topic)
        assert wait_until(lambda: not first.poll(timeout=0.2) and first_calls.owned == everything)

        second_calls.subscribe(second, topic)

        def split() -> bool:
            first.poll(timeout=0.2)
            second.poll(timeout=0.2)
            return (
                len(first_calls.owned) == 2
                and len(second_calls.owned) == 2
                and first_calls.owned | second_calls.owned == everything
            )

        assert wait_until(split, step=0)
        # Incremental: the first consumer gave up two partitions and kept the others.
        revokes = [parts for kind, parts in first_calls.events if kind == "revoke"]
        assert revokes and all(len(parts) < 4 for parts in revokes)
        assert set(first.assignment()) == first_calls.owned
        kept = set(first_calls.owned)

        first.close()

        def took_over() -> bool:
            second.poll(timeout=0.2)
            return second_calls.owned == everything

        assert wait_until(took_over, step=0)
        # The survivor was given exactly the partitions it did not own yet.
        assert second_calls.events[-1] == ("assign", frozenset(kept))
        assert set(second.assignment()) == everything
    finally:
        first.close()
        second.close()


def test_auto_offset_reset_error_raises_naming_the_partition(kafka: Log) -> None:
    topic = make_topic(kafka)
    producer = kafka.producer()
    send_all(producer, topic, [(None, b"x")])
    producer.close()
    consumer = kafka.consumer(unique("group"), auto_offset_reset="error")
    try:
        consumer.subscribe([topic])
        with pytest.raises(BrokerError, match=topic) as caught:
            for _ in range(60):
                consumer.poll(timeout=0.5)
        assert "partition 0" in str(caught.value)
    finally:
        consumer.close()


def test_position_after_seek_before_any_record(kafka: Log) -> None:
    topic = make_topic(kafka)
    tp = TopicPartition(topic, 0)
    producer = kafka.producer()
    send_all(producer, topic, [(None, f"{i}".encode()) for i in range(5)])
    producer.close()
    consumer = kafka.consumer()
    try:
        consumer.assign([tp])
        # Group-less: the reset policy's start (earliest) is resolved by assign() itself.
        assert consumer.position(tp) == 0
        consumer.seek(tp, 3)
        assert consumer.position(tp) == 3
        assert [r.offset for r in poll_count(consumer, 2)] == [3, 4]
        assert consumer.position(tp) == 5
    finally:
        consumer.close()


@pytest.mark.parametrize("committed", [None, 3])
def test_a_partition_paused_where_it_was_assigned_reads_from_its_start_on_resume(
    kafka: Log, committed: int | None
) -> None:
    # The runner pauses the partitions of a restoring task in the poll that assigned them,
    # before their start offset is known, and resumes them once restored: resume() restarts
    # such a partition at its start (librdkafka #2190), which must be the committed offset,
    # else the reset policy's, never anything else.
    topic = make_topic(kafka, partitions=2)
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    producer = kafka.producer()
    for p in (0, 1):
        send_all(producer, topic, [(None, b"x")] * 6, partition=p)
    producer.close()
    group = unique("g")
    if committed is not None:
        first = kafka.consumer(group)
        first.assign(tps)
        first.commit(dict.fromkeys(tps, committed))
        first.close()
    start = committed or 0
    for _ in range(3):
        consumer = kafka.consumer(group, auto_offset_reset="earliest")
        assigned: list[TopicPartition] = []
        try:
            consumer.subscribe([topic], on_assign=assigned.extend)
            early: list[strom.log.Record] = []
            deadline = time.monotonic() + 30
            while not assigned and time.monotonic() < deadline:
                early.extend(consumer.poll(100, 0.1))
            assert sorted(assigned) == tps
            consumer.pause(tps)
            for tp in tps:  # what the assigning poll returned is put back, as the runner does
                offsets = [r.offset for r in early if r.partition == tp.partition]
                if offsets:
                    consumer.seek(tp, min(offsets))
            consumer.resume(tps)
            got = poll_count(consumer, 2 * (6 - start))
            assert {p: min(r.offset for r in got if r.partition == p) for p in (0, 1)} == {
                0: start,
                1: start,
            }
        finally:
            consumer.close()
