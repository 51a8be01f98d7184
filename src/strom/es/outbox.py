"""The outbox relay: publish the store's events to a topic, in order per stream, exactly once.

The relay reads the global order and produces each event to the topic (key = stream id, so a
stream's events share a partition and keep their order; value = the event's data; headers =
its envelope: position, stream, version, type, type version, id, metadata). Every batch is one
log transaction that also commits the relay's progress: the position after the batch, stored
as the committed offset of partition 0 of the topic for the relay's own consumer group
(``strom-es-outbox.<name>``), through ``send_offsets_to_transaction``. Records and progress
become visible together or not at all, so a relay killed at any moment resumes exactly after
the last published event: no loss, no duplicates (for readers with ``read_committed``, the
default). ``init_transactions`` fences a previous instance with the same name. This works on
Kafka and on the embedded log (both implement transactions with offsets).

Example:
    >>> import tempfile, strom.es as es, strom.log
    >>> store = es.connect("sqlite://:memory:")
    >>> _ = store.append("order-1", [es.NewEvent("Placed", b'{"total":3}')])
    >>> log = strom.log.connect("local://" + tempfile.mkdtemp())
    >>> relay = es.OutboxRelay(store, log, "orders", partitions=2)
    >>> relay.relay_once()
    1
    >>> relay.position
    1
    >>> relay.close()
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import strom.log
from strom.errors import ConfigError, TopicExistsError
from strom.es.store import EventStore
from strom.es.types import RecordedEvent
from strom.log import Log, TopicPartition, TopicSpec

logger = logging.getLogger(__name__)

HEADER_PREFIX = "strom.es."


def event_headers(event: RecordedEvent) -> list[tuple[str, bytes]]:
    """The envelope of ``event`` as record headers."""
    p = HEADER_PREFIX
    return [
        (p + "position", str(event.position).encode()),
        (p + "stream", event.stream_id.encode()),
        (p + "version", str(event.version).encode()),
        (p + "type", event.type.encode()),
        (p + "type_version", str(event.type_version).encode()),
        (p + "id", str(event.id).encode()),
        (p + "metadata", event.raw_metadata),
    ]


class OutboxRelay:
    """Publishes appended events to ``topic`` exactly once, in order per stream.

    Args:
        store: the event store to relay from.
        log: a :class:`strom.log.Log` or its URL (``kafka://...``, ``local://...``).
        topic: the target topic (created with ``partitions`` when missing).
        name: the relay's name: its transactional id and group derive from it; one running
            relay per name (a new one fences the old).
        batch_size: events per transaction.
        select: only events for which it returns True are published (progress still moves
            past the others).
        partitions: partitions for the topic when the relay creates it.
    """

    def __init__(
        self,
        store: EventStore,
        log: Log | str,
        topic: str,
        *,
        name: str = "outbox",
        batch_size: int = 500,
        select: Callable[[RecordedEvent], bool] | None = None,
        partitions: int = 1,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ConfigError(f"relay name must be a non-empty string, got {name!r}")
        self.store = store
        self.topic = topic
        self.name = name
        self.batch_size = batch_size
        self.select = select
        self._own_log = isinstance(log, str)
        self.log: Log = strom.log.connect(log) if isinstance(log, str) else log
        self.group = f"strom-es-outbox.{name}"
        self._progress = TopicPartition(topic, 0)
        self._stop = threading.Event()
        admin = self.log.admin()
        try:
            if topic not in admin.list_topics():
                with contextlib.suppress(TopicExistsError):
                    admin.create_topics([TopicSpec(topic, partitions=partitions)])
        finally:
            admin.close()
        self._producer = self.log.producer(transactional_id=f"strom-es-outbox.{name}")
        # Fences an earlier instance and resolves its open transaction before we read progress.
        self._producer.init_transactions()
        self._consumer = self.log.consumer(self.group)
        committed = self._consumer.committed([self._progress])[self._progress]
        self._next = committed if committed is not None and committed > 0 else 1
        logger.info("outbox relay %s resumes at position %d -> %s", name, self._next, topic)

    @property
    def position(self) -> int:
        """The last position relayed (published or passed over by ``select``)."""
        return self._next - 1

    def relay_once(self) -> int:
        """Publish the next batch in one transaction; returns how many events it covered."""
        events = self.store.read_all(self._next, limit=self.batch_size)
        if not events:
            return 0
        producer = self._producer
        producer.begin_transaction()
        try:
            for event in events:
                if self.select is not None and not self.select(event):
                    continue
                producer.send(
                    self.topic,
                    event.data,
                    event.stream_id.encode(),
                    timestamp=event.timestamp,
                    headers=event_headers(event),
                )
            after = events[-1].position + 1
            producer.send_offsets_to_transaction(
                {self._progress: after}, self._consumer.group_metadata()
            )
            producer.commit_transaction()
        except BaseException:
            try:
                producer.abort_transaction()
            except Exception as exc:  # the original error is the one to report
                logger.warning("outbox relay %s: abort after a failure failed: %s", self.name, exc)
            raise
        self._next = after
        return len(events)

    def run(self, *, idle_timeout: float | None = None) -> int:
        """Relay until :meth:`stop` (or ``idle_timeout`` seconds with nothing new); returns
        how many events were covered."""
        total = 0
        idle_since = time.monotonic()
        while not self._stop.is_set():
            n = self.relay_once()
            total += n
            if n:
                idle_since = time.monotonic()
                continue
            if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                break
            self.store.wait(self.position, 1.0 if idle_timeout is None else min(1.0, idle_timeout))
        return total

    def stop(self) -> None:
        """Make :meth:`run` return after its current batch; thread-safe."""
        self._stop.set()

    def close(self) -> None:
        """Release the producer and consumer (and the log when the relay opened it)."""
        self._consumer.close()
        self._producer.close()
        if self._own_log:
            self.log.close()
