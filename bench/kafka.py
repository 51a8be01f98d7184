"""The runner's side of Kafka: the broker, topics, pre-filling, verification.

Uses confluent-kafka directly (not strom), so the harness works before strom's backends do
and does not measure strom with strom.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
BROKER_SCRIPT = REPO / "scripts" / "kafka" / "broker.py"
BENCH_BROKER_DIR = REPO / ".strom-test" / "bench-kafka"


@dataclass
class BrokerHandle:
    """Where the broker is, and whether this run started it (and so stops it)."""

    bootstrap: str
    started_dir: Path | None = None
    origin: str = ""

    def stop(self) -> None:
        """Stop the broker if this run started it."""
        if self.started_dir is not None:
            subprocess.run(
                [sys.executable, str(BROKER_SCRIPT), "down", "--dir", str(self.started_dir)],
                timeout=120,
                check=False,
            )


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BROKER_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def ensure_broker(bootstrap: str | None) -> BrokerHandle:
    """``bootstrap`` if given, else ``$STROM_TEST_KAFKA``, else the broker ``make kafka-up``
    started, else a broker started now by ``scripts/kafka/broker.py`` (stopped at the end)."""
    if bootstrap:
        return BrokerHandle(bootstrap, origin="--bootstrap")
    env = os.environ.get("STROM_TEST_KAFKA")
    if env:
        return BrokerHandle(env, origin="$STROM_TEST_KAFKA")
    status = _script("status")
    if status.returncode == 0 and "bootstrap=" in status.stdout:
        return BrokerHandle(status.stdout.split("bootstrap=")[1].split()[0], origin="make kafka-up")
    up = _script("up", "--dir", str(BENCH_BROKER_DIR))
    if up.returncode != 0:
        raise SystemExit(f"could not start the Kafka broker:\n{up.stdout}\n{up.stderr}")
    return BrokerHandle(
        up.stdout.strip().splitlines()[-1], BENCH_BROKER_DIR, origin="started for this run"
    )


class Kafka:
    """Admin operations the runner needs, on one broker."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def check(self, timeout: float = 15.0) -> None:
        """Raise SystemExit when the broker does not answer."""
        try:
            self.admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise SystemExit(f"Kafka broker at {self.bootstrap} does not answer: {exc}") from exc

    def create(self, names: Iterable[str], partitions: int) -> None:
        """Create topics (replication factor 1) and wait until their leaders are known."""
        names = list(names)
        futures = self.admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names],
            operation_timeout=30,
        )
        for future in futures.values():
            future.result(timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            meta = self.admin.list_topics(timeout=10).topics
            ready = all(
                n in meta
                and len(meta[n].partitions) == partitions
                and all(p.leader >= 0 for p in meta[n].partitions.values())
                for n in names
            )
            if ready:
                return
            time.sleep(0.2)
        raise SystemExit(f"topics {names} have no leaders after 30 s")

    def delete(self, names: Iterable[str]) -> None:
        """Delete topics, ignoring ones that are gone."""
        names = [n for n in names if n]
        if not names:
            return
        for future in self.admin.delete_topics(names, operation_timeout=30).values():
            with contextlib.suppress(KafkaException):
                future.result(timeout=60)

    def delete_group(self, group: str) -> None:
        """Delete a consumer group, ignoring errors (it may not exist)."""
        for future in self.admin.delete_consumer_groups([group], request_timeout=30).values():
            with contextlib.suppress(KafkaException):
                future.result(timeout=30)

    def fill(self, topic: str, records: Iterable[tuple[bytes, bytes]]) -> int:
        """Produce ``records`` (key, value) with acks=all; returns how many."""
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 20,
                "batch.size": 1_000_000,
            }
        )
        failures: list[str] = []

        def on_delivery(err: object, _msg: object) -> None:
            if err is not None:
                failures.append(str(err))

        count = 0
        for key, value in records:
            while True:
                try:
                    producer.produce(topic, value, key, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.05)
            count += 1
            if count % 10_000 == 0:
                producer.poll(0)
        remaining = producer.flush(120)
        if remaining or failures:
            raise SystemExit(f"pre-filling {topic} failed: {remaining} undelivered, {failures[:3]}")
        return count

    def partitions(self, topic: str) -> list[TopicPartition]:
        """Every partition of ``topic``."""
        meta = self.admin.list_topics(topic, timeout=10).topics[topic]
        return [TopicPartition(topic, p) for p in sorted(meta.partitions)]

    def end_offsets(self, topic: str) -> dict[int, int]:
        """High watermark per partition."""
        from confluent_kafka import Consumer

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "bench-watermarks"})
        try:
            return {
                tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1]
                for tp in self.partitions(topic)
            }
        finally:
            consumer.close()

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed next-offset per partition of ``topic`` (-1: none)."""
        request = ConsumerGroupTopicPartitions(group, self.partitions(topic))
        futures = self.admin.list_consumer_group_offsets([request], request_timeout=30)
        result = futures[group].result(timeout=30)
        return {tp.partition: tp.offset for tp in result.topic_partitions}

    def wait_group_stable(self, group: str, partitions: int, timeout: float) -> bool:
        """True once ``group`` is Stable with every partition assigned, False at timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                desc = self.admin.describe_consumer_groups([group], request_timeout=5)[group]
                info = desc.result(timeout=10)
                assigned = sum(
                    len(m.assignment.topic_partitions) for m in info.members if m.assignment
                )
                if info.state == ConsumerGroupState.STABLE and assigned >= partitions:
                    return True
            except KafkaException:
                pass
            time.sleep(0.2)
        return False
