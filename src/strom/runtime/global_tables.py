"""Global tables: every partition of a (small) topic, kept whole by every process.

When the runner starts, each global table's topic is read from its beginning to the end
offsets it has then (the application does not process before that); then the process follows
the topic, a bounded batch per loop iteration. The tables live in memory: a restart reads the
topic again (it is the table's changelog: compact it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from strom.dsl.topic import Topic
from strom.errors import BrokerError, SerializationError
from strom.joins import TableCore, stamped_serde
from strom.log.protocols import Consumer, Log
from strom.log.types import OFFSET_BEGINNING, Record, TopicPartition
from strom.state import open_key_value_store

log = logging.getLogger("strom.runtime")

_BATCH = 5000


class GlobalTables:
    """The global tables of one process.

    Args:
        log_: the log to read them from.
        topics: the global tables' topics, by name.
        isolation: how to read them (read_committed under exactly-once).
    """

    def __init__(self, log_: Log, topics: dict[str, Topic], isolation: str) -> None:
        self._log = log_
        self._topics = topics
        self._isolation = isolation
        self._consumer: Consumer | None = None
        self.cores: dict[str, TableCore[Any, Any]] = {}
        self._stores: list[Any] = []

    def load(self, timeout: float) -> None:
        """Read every global topic up to its current end (within ``timeout`` seconds)."""
        if not self._topics:
            return
        admin = self._log.admin()
        try:
            tps = [
                TopicPartition(name, p)
                for name in sorted(self._topics)
                for p in range(admin.describe_topic(name).partitions)
            ]
            ends = admin.end_offsets(tps)
        finally:
            admin.close()
        for name, topic in self._topics.items():
            store = open_key_value_store(
                f"global-{name}", 0, topic.key, stamped_serde(topic.value), backend="memory"
            )
            self._stores.append(store)
            self.cores[name] = TableCore(store)
        consumer = self._consumer = self._log.consumer(
            None,
            isolation_level=self._isolation,  # type: ignore[arg-type]
        )
        consumer.assign(tps, at=dict.fromkeys(tps, OFFSET_BEGINNING))
        started = time.monotonic()
        deadline = started + timeout
        loaded = 0
        while any((consumer.position(tp) or 0) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"global tables {sorted(self._topics)} were not read to their end within "
                    f"{timeout:g} s"
                )
            loaded += self._apply(consumer.poll(_BATCH, 0.2))
        log.info(
            "global tables %s loaded: %d records in %.2f s",
            ", ".join(sorted(self._topics)),
            loaded,
            time.monotonic() - started,
        )

    def poll(self) -> int:
        """Apply what arrived on the global topics since the last call (non-blocking)."""
        consumer = self._consumer
        if consumer is None:
            return 0
        return self._apply(consumer.poll(_BATCH, 0.0))

    def _apply(self, records: list[Record]) -> int:
        for record in records:
            topic = self._topics[record.topic]
            try:
                key = topic.key.deserialize(record.key)
                value = topic.value.deserialize(record.value)
            except Exception as exc:
                raise SerializationError(
                    f"global table {record.topic!r}: cannot decode the record: {exc}",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                ) from exc
            if key is not None:
                self.cores[record.topic].upsert(key, value, record.timestamp)
        if records:
            for store in self._stores:
                store.flush()  # no changelog: the topic is the table's changelog
        return len(records)

    def close(self) -> None:
        """Close the consumer and the stores."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        for store in self._stores:
            store.close()
        self._stores.clear()
