"""The capture loop: source → Debezium envelopes → log, positions acknowledged only when safe.

Delivery is at-least-once with no loss. The engine sends each change to the log as it
arrives; at a checkpoint (every ``checkpoint_interval`` seconds or ``checkpoint_records``
records) it

1. flushes the producer: every record sent so far is acknowledged by the log, or the engine
   stops with the error and acknowledges nothing;
2. stores the latest :class:`~strom.cdc.model.Checkpoint` position (compacted topic or file);
3. only then acknowledges that position to the database (``flush_lsn`` to a PostgreSQL slot).

After a crash the source resumes from the stored position (or, on PostgreSQL, the slot's
acknowledged one when that is older): changes after it are written again, never skipped.
Per-key order is the database's commit order: one producer, idempotent, key-hashed partitions.

Example:
    >>> import tempfile
    >>> from strom.cdc.connect import primitive
    >>> from strom.cdc.model import Change, Checkpoint, Table, TableColumn
    >>> t = Table("shop", "public", "orders",
    ...           (TableColumn("id", primitive("int32", optional=False)),), key=("id",))
    >>> class OneInsert:
    ...     connector, database, source_fields = "postgresql", "shop", []
    ...     source_schema_name = "io.debezium.connector.postgresql.Source"
    ...     def __init__(self): self.items, self.acked = [], None
    ...     def start(self, stored):
    ...         self.items = [Change(t, "c", None, {"id": 1}, {}, 0), Checkpoint({"n": 1})]
    ...     def poll(self, max_items, timeout):
    ...         items, self.items = self.items, []
    ...         return items
    ...     def acknowledge(self, position): self.acked = position
    ...     def close(self): pass
    >>> source = OneInsert()
    >>> engine = CdcEngine(source, "local://" + tempfile.mkdtemp(), EngineSettings("app"))
    >>> engine.run(max_polls=3)
    >>> source.acked, engine.stats.records
    ({'n': 1}, 1)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from strom.cdc.connect import Schema
from strom.cdc.envelope import EnvelopeWriter
from strom.cdc.errors import SlotInUseError, SourceUnavailableError
from strom.cdc.model import Change, Checkpoint
from strom.cdc.offsets import OFFSETS_TOPIC, FileOffsetStore, LogOffsetStore, OffsetStore
from strom.cdc.source import Source
from strom.errors import ConfigError, TopicExistsError
from strom.log import Log, Producer, TopicSpec, connect

log = logging.getLogger("strom.cdc")

HEARTBEAT_PREFIX = "__debezium-heartbeat"
_HEARTBEAT_KEY_SCHEMA = (
    b'{"type":"struct","fields":[{"type":"string","optional":false,"field":"serverName"}],'
    b'"optional":false,"name":"io.debezium.connector.common.ServerNameKey"}'
)
_HEARTBEAT_VALUE_SCHEMA = (
    b'{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}],'
    b'"optional":false,"name":"io.debezium.connector.common.Heartbeat"}'
)


class CaptureSource(Source, Protocol):
    """A :class:`~strom.cdc.source.Source` that also describes its ``source`` block."""

    source_fields: list[Schema]
    source_schema_name: str


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How changes are written and positions kept.

    Attributes:
        prefix: Debezium's ``topic.prefix``: topics are ``prefix.schema.table``.
        name: the capture's name, the key of its stored position (default: ``prefix``).
        schemas: write Debezium's ``{"schema", "payload"}`` JSON (True) or the payload only.
        tombstones: follow each delete with a null-value record (for compacted topics).
        heartbeat_interval: seconds between heartbeat records on
            ``__debezium-heartbeat.<prefix>``; None for none.
        checkpoint_interval: at most this many seconds between checkpoints.
        checkpoint_records: checkpoint after this many records even sooner.
        max_batch: changes taken from the source per poll.
        poll_timeout: seconds a poll waits when the source is idle.
        partitions: partitions of the change topics strom creates.
        topic_config: configs of the change topics strom creates.
        offsets: ``"log"`` (a compacted topic of the output log) or a file path.
        offsets_topic: the topic for ``offsets="log"``.
        reconnect_timeout: seconds to keep reconnecting to a database that went away
            (resuming from the stored position); 0 to fail at once.
        flush_timeout: seconds a checkpoint waits for the log.
    """

    prefix: str
    name: str | None = None
    schemas: bool = True
    tombstones: bool = True
    heartbeat_interval: float | None = None
    checkpoint_interval: float = 1.0
    checkpoint_records: int = 50_000
    max_batch: int = 1000
    poll_timeout: float = 0.2
    partitions: int = 1
    topic_config: Mapping[str, str] = field(default_factory=dict)
    offsets: str = "log"
    offsets_topic: str = OFFSETS_TOPIC
    reconnect_timeout: float = 300.0
    flush_timeout: float = 60.0

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in " /\\"):
            raise ConfigError(f"cdc: prefix {self.prefix!r} must be a non-empty topic-name part")
        if self.checkpoint_interval <= 0 or self.checkpoint_records < 1 or self.max_batch < 1:
            raise ConfigError("cdc: checkpoint_interval, checkpoint_records, max_batch must be > 0")
        if self.heartbeat_interval is not None and self.heartbeat_interval <= 0:
            raise ConfigError("cdc: heartbeat_interval must be > 0 seconds (or None)")
        if self.partitions < 1:
            raise ConfigError(f"cdc: partitions must be >= 1, got {self.partitions}")

    @property
    def capture_name(self) -> str:
        """The key of the stored position."""
        return self.name or self.prefix


@dataclass(slots=True)
class EngineStats:
    """Counters of one engine (for logs, ``strom cdc run`` and benchmarks)."""

    changes: int = 0
    records: int = 0
    checkpoints: int = 0
    reconnects: int = 0
    position: dict[str, Any] | None = None


def open_offsets(
    settings: EngineSettings, log_: Log, producer: Producer | None = None
) -> OffsetStore:
    """The offset store ``settings.offsets`` names."""
    if settings.offsets == "log":
        return LogOffsetStore(
            log_, settings.capture_name, topic=settings.offsets_topic, producer=producer
        )
    return FileOffsetStore(settings.offsets)


class CdcEngine:
    """Runs one source into one log (see the module docs).

    Args:
        source: the capture source.
        log: the output log, or its URL (``kafka://...``, ``local://...``).
        settings: :class:`EngineSettings`.
    """

    def __init__(self, source: CaptureSource, log: Log | str, settings: EngineSettings) -> None:
        self.source = source
        self.settings = settings
        self._own_log = isinstance(log, str)
        self.log: Log = connect(log) if isinstance(log, str) else log
        self.writer: EnvelopeWriter | None = None
        self.stats = EngineStats()
        self._stop = threading.Event()
        self._producer: Producer | None = None
        self._offsets: OffsetStore | None = None
        self._known_topics: set[str] | None = None
        self._pending: Checkpoint | None = None
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self._last_heartbeat = time.monotonic()

    def stop(self) -> None:
        """Ask :meth:`run` to checkpoint and return (safe from signal handlers and threads)."""
        self._stop.set()

    def run(self, *, max_polls: int | None = None, max_seconds: float | None = None) -> None:
        """Capture until :meth:`stop` (or ``max_polls`` polls / ``max_seconds``), then
        checkpoint and close. Errors propagate after the source is closed; nothing is
        acknowledged past what the log holds."""
        self._producer = self.log.producer()
        self._offsets = open_offsets(self.settings, self.log, self._producer)
        stored = self._offsets.load()
        self.stats.position = stored
        log.info("capture %s starting from %s", self.settings.capture_name, stored or "scratch")
        self.source.start(stored)
        # After start: a source may learn its flavour (MySQL or MariaDB) from the server.
        self.writer = EnvelopeWriter(
            self.settings.prefix,
            self.source.connector,
            self.source.database,
            source_fields=self.source.source_fields,
            source_schema_name=self.source.source_schema_name,
            schemas=self.settings.schemas,
            tombstones=self.settings.tombstones,
        )
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        polls = 0
        try:
            while not self._stop.is_set():
                if max_polls is not None and polls >= max_polls:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                polls += 1
                try:
                    items = self.source.poll(self.settings.max_batch, self.settings.poll_timeout)
                except SourceUnavailableError as exc:
                    self._reconnect(exc)
                    continue
                for item in items:
                    if isinstance(item, Change):
                        self._write(item)
                    else:
                        self._pending = item
                self._heartbeat()
                if self._due():
                    self.checkpoint()
            self.checkpoint()
        finally:
            self._close()

    def _write(self, change: Change) -> None:
        producer, writer = self._producer, self.writer
        assert producer is not None and writer is not None
        self.stats.changes += 1
        for topic, key, value in writer.render(change):
            if self._known_topics is None or topic not in self._known_topics:
                self._ensure_topic(topic)
            producer.send(topic, value, key, headers=change.headers or None)
            self.stats.records += 1
            self._since_checkpoint += 1

    def _ensure_topic(self, topic: str, partitions: int | None = None) -> None:
        admin = self.log.admin()
        try:
            if self._known_topics is None:
                self._known_topics = set(admin.list_topics())
            if topic not in self._known_topics:
                count = partitions or self.settings.partitions
                spec = TopicSpec(topic, count, dict(self.settings.topic_config))
                try:
                    admin.create_topics([spec])
                    log.info("created topic %s", topic)
                except TopicExistsError:
                    pass  # created meanwhile, or internal (list_topics hides "__" names)
                self._known_topics.add(topic)
        finally:
            admin.close()

    def _heartbeat(self) -> None:
        interval = self.settings.heartbeat_interval
        if interval is None or time.monotonic() - self._last_heartbeat < interval:
            return
        self._last_heartbeat = time.monotonic()
        prefix = self.settings.prefix
        topic = f"{HEARTBEAT_PREFIX}.{prefix}"
        key = orjson.dumps({"serverName": prefix})
        value = orjson.dumps({"ts_ms": time.time_ns() // 1_000_000})
        if self.settings.schemas:
            key = b'{"schema":' + _HEARTBEAT_KEY_SCHEMA + b',"payload":' + key + b"}"
            value = b'{"schema":' + _HEARTBEAT_VALUE_SCHEMA + b',"payload":' + value + b"}"
        if self._known_topics is None or topic not in self._known_topics:
            self._ensure_topic(topic, partitions=1)
        assert self._producer is not None
        self._producer.send(topic, value, key)

    def _due(self) -> bool:
        if self._pending is None:
            return False
        return (
            self._since_checkpoint >= self.settings.checkpoint_records
            or time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_interval
        )

    def checkpoint(self, *, acknowledge: bool = True) -> None:
        """Flush the log, store the latest position, then acknowledge it to the database
        (unless ``acknowledge`` is False: the connection to tell it is broken)."""
        pending = self._pending
        if pending is None or self._producer is None or self._offsets is None:
            return
        self._producer.flush(self.settings.flush_timeout)
        self._offsets.save(pending.position)
        if acknowledge:
            self.source.acknowledge(pending.position)
        self.stats.checkpoints += 1
        self.stats.position = pending.position
        self._pending = None
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()

    def _reconnect(self, cause: SourceUnavailableError) -> None:
        """The database went away: keep what is complete, then resume from the stored position."""
        log.warning("source failed (%s); reconnecting", cause)
        self.checkpoint(acknowledge=False)
        self.source.close()
        deadline = time.monotonic() + self.settings.reconnect_timeout
        delay = 0.5
        while True:
            if self._stop.is_set():
                raise cause
            try:
                assert self._offsets is not None
                stored = self._offsets.load()
                self.source.start(stored)
                if stored is not None:
                    self.source.acknowledge(stored)
                self.stats.reconnects += 1
                log.info("source reconnected")
                return
            except (SourceUnavailableError, SlotInUseError) as exc:
                # A slot stays "in use" until the server notices the old connection is gone.
                self.source.close()
                if time.monotonic() + delay > deadline:
                    raise exc from cause
                log.warning("reconnect failed (%s); retrying in %.1fs", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _close(self) -> None:
        try:
            self.source.close()
        finally:
            if self._offsets is not None:
                self._offsets.close()
            if self._producer is not None:
                self._producer.close()
            if self._own_log:
                self.log.close()
