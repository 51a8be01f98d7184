"""Helpers of the runtime tests: create topics, produce, run an app until caught up, read."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import strom
import strom.log
from strom.log import TopicPartition, TopicSpec
from strom.runtime.plan import build_plan
from strom.serde.base import Serde


@dataclass(frozen=True)
class Out:
    """A record read back from an output topic, decoded."""

    key: Any
    value: Any
    partition: int
    offset: int
    timestamp: int
    headers: tuple[tuple[str, bytes], ...]


def create(log: strom.log.Log, name: str, partitions: int = 1) -> None:
    admin = log.admin()
    try:
        admin.create_topics([TopicSpec(name, partitions)])
    finally:
        admin.close()


def produce(
    log: strom.log.Log,
    topic: strom.Topic,
    records: Iterable[tuple[Any, Any]],
    *,
    timestamp: int | None = None,
    headers: Any = None,
) -> int:
    """Write (key, value) pairs with the topic's serdes; returns how many."""
    producer = log.producer()
    n = 0
    try:
        for key, value in records:
            producer.send(
                topic.name,
                topic.value.serialize(value),
                topic.key.serialize(key),
                timestamp=timestamp,
                headers=headers,
            )
            n += 1
        producer.flush()
    finally:
        producer.close()
    return n


def lag(log: strom.log.Log, app: strom.App) -> int:
    """Records of the app's source (and repartition) topics not yet committed by its group."""
    admin = log.admin()
    try:
        committed = admin.group_offsets(app.name)
        tps = [
            TopicPartition(name, p)
            for name in build_plan(app.graph).sources
            for p in range(admin.describe_topic(name).partitions)
        ]
        ends = admin.end_offsets(tps)
    finally:
        admin.close()
    return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())


def run_until_caught_up(app: strom.App, log: strom.log.Log, *, timeout: float = 60.0) -> None:
    """``app.run()`` in a thread until its group has committed everything, then stop it."""
    error: list[BaseException] = []

    def target() -> None:
        try:
            app.run(broker=log.url)
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    caught_up = False
    try:
        while time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.2)
            try:
                caught_up = lag(log, app) == 0
            except strom.errors.TopicNotFoundError:
                continue  # repartition topics not created yet
            if caught_up:
                break
    finally:
        app.stop()
        thread.join(30)
    assert not thread.is_alive(), "app.run() did not return after stop()"
    if error:
        raise error[0]
    if not caught_up:
        raise AssertionError(f"{app.name} did not catch up within {timeout} s")


def read(
    log: strom.log.Log,
    topic: str,
    key: Serde[Any] | None = None,
    value: Serde[Any] | None = None,
    *,
    timeout: float = 20.0,
) -> list[Out]:
    """Every record of ``topic``, decoded (JSON values, string keys by default), by partition
    then offset."""
    key = key or strom.serde.string()
    value = value or strom.serde.json()
    admin = log.admin()
    consumer = log.consumer()
    try:
        partitions = [
            TopicPartition(topic, p) for p in range(admin.describe_topic(topic).partitions)
        ]
        ends = admin.end_offsets(partitions)
        consumer.assign(partitions, at=dict.fromkeys(partitions, strom.log.OFFSET_BEGINNING))
        got: list[Out] = []
        deadline = time.monotonic() + timeout
        # Positions, not counts: a transactionally written topic has commit markers.
        while any((consumer.position(tp) or 0) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                positions = {tp.partition: consumer.position(tp) for tp in ends}
                raise AssertionError(
                    f"read {len(got)} records of {topic}, not to its end: positions "
                    f"{positions}, ends { {tp.partition: end for tp, end in ends.items()} }"
                )
            for r in consumer.poll(1000, 0.2):
                got.append(
                    Out(
                        key.deserialize(r.key),
                        value.deserialize(r.value),
                        r.partition,
                        r.offset,
                        r.timestamp,
                        r.headers,
                    )
                )
    finally:
        consumer.close()
        admin.close()
    return sorted(got, key=lambda o: (o.partition, o.offset))
