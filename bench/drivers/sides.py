"""The log a pipeline workload runs on, from the runner's side: Kafka or the embedded log.

Both offer the same few operations: fill the input once, create an output topic, count what
landed in it, check a group's committed offsets, clean up.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from bench import data
from bench.context import Context
from bench.kafka import Kafka


class Side(Protocol):
    """One backend, as the pipeline driver uses it."""

    def fill(self, topic: str, records: int) -> list[str]:
        """Create and fill ``topic`` with the run's events; their actions."""
        ...

    def create(self, topic: str) -> None:
        """Create an (output) topic with the run's partition count."""
        ...

    def count(self, topic: str) -> int:
        """Records in ``topic`` (sum of end offsets)."""
        ...

    def committed_ok(self, group: str, topic: str) -> tuple[bool, str]:
        """Whether ``group`` committed the end of every partition of ``topic``."""
        ...

    def drop(self, topics: list[str], group: str | None) -> None:
        """Delete topics and the group (best effort)."""
        ...

    def child(self) -> dict[str, Any]:
        """What implementation scripts need to reach this log."""
        ...


class KafkaSide:
    """The Kafka broker, through :class:`bench.kafka.Kafka` (confluent-kafka, not strom)."""

    def __init__(self, ctx: Context, kafka: Kafka) -> None:
        self.ctx = ctx
        self.kafka = kafka

    def fill(self, topic: str, records: int) -> list[str]:
        self.kafka.create([topic], self.ctx.settings.partitions)
        self.kafka.fill(topic, data.encoded(records))
        return data.actions(records)

    def create(self, topic: str) -> None:
        self.kafka.create([topic], self.ctx.settings.partitions)

    def count(self, topic: str) -> int:
        return sum(self.kafka.end_offsets(topic).values())

    def committed_ok(self, group: str, topic: str) -> tuple[bool, str]:
        ends = self.kafka.end_offsets(topic)
        committed = self.kafka.committed(group, topic)
        behind = {
            p: (committed.get(p, -1), end) for p, end in ends.items() if committed.get(p) != end
        }
        return not behind, "" if not behind else f"committed != end offset: {behind}"

    def drop(self, topics: list[str], group: str | None) -> None:
        self.kafka.delete(topics)
        if group:
            self.kafka.delete_group(group)

    def child(self) -> dict[str, Any]:
        return {"bootstrap": self.kafka.bootstrap, "url": f"kafka://{self.kafka.bootstrap}"}


class LocalSide:
    """The embedded log in a temporary directory, through strom's own ``strom.log`` API (the
    only way to write it). Fails at construction when ``strom.log.local`` is not there yet."""

    def __init__(self, ctx: Context) -> None:
        import strom.log

        self.ctx = ctx
        self.strom_log = strom.log
        self.url = f"local://{ctx.tmp('local-log') / 'log'}"
        self.log = strom.log.connect(self.url)
        self.admin = self.log.admin()

    def fill(self, topic: str, records: int) -> list[str]:
        self.create(topic)
        producer = self.log.producer()
        try:
            for i, (key, value) in enumerate(data.encoded(records)):
                producer.send(topic, value, key=key)
                if i % 10_000 == 9_999:
                    producer.poll(0)
            producer.flush(120)
        finally:
            producer.close()
        return data.actions(records)

    def create(self, topic: str) -> None:
        spec = self.strom_log.TopicSpec(topic, partitions=self.ctx.settings.partitions)
        self.admin.create_topics([spec])

    def _partitions(self, topic: str) -> list[Any]:
        count = self.admin.describe_topic(topic).partitions
        return [self.strom_log.TopicPartition(topic, p) for p in range(count)]

    def count(self, topic: str) -> int:
        return sum(self.admin.end_offsets(self._partitions(topic)).values())

    def committed_ok(self, group: str, topic: str) -> tuple[bool, str]:
        ends = self.admin.end_offsets(self._partitions(topic))
        committed = self.admin.group_offsets(group)
        behind = {
            tp.partition: (committed.get(tp), end)
            for tp, end in ends.items()
            if committed.get(tp) != end
        }
        return not behind, "" if not behind else f"committed != end offset: {behind}"

    def drop(self, topics: list[str], group: str | None) -> None:
        # Best effort: the directory is removed at the end of the run anyway.
        with contextlib.suppress(Exception):
            self.admin.delete_topics(topics)

    def child(self) -> dict[str, Any]:
        return {"url": self.url}
