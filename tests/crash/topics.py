"""The harness's own I/O on the log: topics, the input feeder, reading outputs back, lag.

Everything goes through ``strom.log`` (confluent-kafka on Kafka, the embedded log on
``local://``); readers are ``read_committed`` (strom's consumer default), as exactly-once
outputs must be read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import strom.log
from strom.errors import StromError
from strom.log import TopicPartition, TopicSpec
from tests.crash import workload as w


def create_topics(log: strom.log.Log, names: list[str], partitions: int) -> None:
    admin = log.admin()
    try:
        admin.create_topics([TopicSpec(name, partitions) for name in names])
    finally:
        admin.close()


class Feeder(threading.Thread):
    """Writes the input while the application runs: ``rate`` records per second, in seq
    order, until :meth:`finish`, which adds the ticks and flushes.

    The producer is idempotent (acks=all); the input is read back afterwards and checked
    (every seq exactly once) before it serves as the reference.
    """

    def __init__(self, log: strom.log.Log, topic: str, t0: int, rate: int) -> None:
        super().__init__(name="crash-feeder", daemon=True)
        self._log = log
        self._topic = topic
        self.t0 = t0
        self._rate = rate
        self._halt = threading.Event()
        self.sent = 0
        self.failed = 0
        self.error: BaseException | None = None
        # The broker restart makes librdkafka log every refused connection: the harness's own
        # client is not under test.
        logging.getLogger("strom.log.kafka").setLevel(logging.CRITICAL)
        self._producer = log.producer()

    def _send(self, v: dict[str, Any]) -> None:
        while True:
            try:
                self._producer.send(
                    self._topic,
                    w.encode(v),
                    w.source_key(int(v["seq"])).encode(),
                    timestamp=int(v["ts"]),
                    on_delivery=self._delivered,
                )
                return
            except StromError:
                # The queue is full (the broker is down): wait for room.
                self._producer.poll(0.1)

    def _delivered(self, metadata: Any, error: Exception | None) -> None:
        if error is not None:
            self.failed += 1

    def run(self) -> None:
        try:
            started = time.monotonic()
            seq = 0
            while not self._halt.is_set():
                due = int((time.monotonic() - started) * self._rate)
                while seq < due:
                    self._send(w.value(seq, self.t0))
                    seq += 1
                self._producer.poll(0.0)
                time.sleep(0.01)
            self.sent = seq
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float = 120.0) -> int:
        """Stop feeding, write the ticks, wait until everything is delivered; the number of
        records written (ticks included)."""
        self._halt.set()
        self.join(30)
        if self.error is not None:
            raise self.error
        last_ts = self.t0 + max(self.sent - 1, 0) * w.STEP_MS
        ticks = w.ticks(self.sent, last_ts)
        for v in ticks:
            self._send(v)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._producer.flush(max(1.0, deadline - time.monotonic()))
                break
            except StromError:
                if time.monotonic() > deadline:
                    raise
        self._producer.close(10)
        self.sent += len(ticks)
        return self.sent


def read_values(log: strom.log.Log, topic: str, *, timeout: float = 120.0) -> list[Any]:
    """Every record value of ``topic`` (JSON), read_committed, by partition then offset."""
    admin = log.admin()
    consumer = log.consumer()
    try:
        n = admin.describe_topic(topic).partitions
        partitions = [TopicPartition(topic, p) for p in range(n)]
        ends = admin.end_offsets(partitions)
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, strom.log.OFFSET_BEGINNING)
        got: list[tuple[int, int, Any]] = []
        deadline = time.monotonic() + timeout
        # Positions, not counts: a transactionally written partition has commit markers.
        while any((consumer.position(tp) or 0) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(got)} records of {topic}, not to its end")
            for r in consumer.poll(5000, 0.2):
                got.append((r.partition, r.offset, json.loads(r.value or b"null")))
    finally:
        consumer.close()
        admin.close()
    got.sort(key=lambda x: (x[0], x[1]))
    return [v for _, _, v in got]


def internal_topics(log: strom.log.Log, app: str) -> list[str]:
    """The application's repartition topics (their names hold the app's name)."""
    admin = log.admin()
    try:
        return sorted(t for t in admin.list_topics() if app in t and "repartition" in t)
    finally:
        admin.close()


def lag(log: strom.log.Log, group: str, topics: list[str]) -> int:
    """Records of ``topics`` not yet committed by ``group``."""
    admin = log.admin()
    try:
        committed = admin.group_offsets(group)
        tps = [
            TopicPartition(name, p)
            for name in topics
            for p in range(admin.describe_topic(name).partitions)
        ]
        ends = admin.end_offsets(tps)
    finally:
        admin.close()
    return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())
