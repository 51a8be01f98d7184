"""Where a capture stores its position: a compacted topic of the output log, or a file.

The position is stored only after the log acknowledged every change before it, and the
database is told about it only after it is stored (see docs/cdc.md, "Crash windows").

Example:
    >>> import tempfile, strom.log
    >>> log = strom.log.connect("local://" + tempfile.mkdtemp())
    >>> store = LogOffsetStore(log, "orders-capture")
    >>> store.load() is None
    True
    >>> store.save({"lsn": 42})
    >>> LogOffsetStore(log, "orders-capture").load()
    {'lsn': 42}
    >>> store.close(); log.close()
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Protocol

import orjson

from strom.cdc.errors import CdcError
from strom.errors import TopicExistsError
from strom.log import Log, Producer, TopicPartition, TopicSpec

OFFSETS_TOPIC = "strom-cdc-offsets"
"""The default compacted topic holding every capture's position, keyed by capture name."""


class OffsetStore(Protocol):
    """Durable storage of one capture's position."""

    def load(self) -> dict[str, Any] | None:
        """The stored position, None when there is none."""
        ...

    def save(self, position: dict[str, Any]) -> None:
        """Store ``position``; durable when this returns."""
        ...

    def forget(self) -> None:
        """Delete the stored position (the next run starts from scratch)."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class LogOffsetStore:
    """Positions in a compacted topic of the output log, keyed by capture name.

    Args:
        log: the output log.
        name: the capture's name (the record key).
        topic: the offsets topic (created, compacted, when missing).
        producer: a producer to share (its pending records are flushed by :meth:`save`).
    """

    def __init__(
        self,
        log: Log,
        name: str,
        *,
        topic: str = OFFSETS_TOPIC,
        producer: Producer | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._log = log
        self._name = name
        self._key = name.encode()
        self._topic = topic
        self._timeout = timeout
        self._own_producer = producer is None
        self._producer = producer
        self._ensured = False

    def _ensure_topic(self) -> None:
        if self._ensured:
            return
        admin = self._log.admin()
        try:
            if self._topic not in admin.list_topics(timeout=self._timeout):
                with contextlib.suppress(TopicExistsError):
                    admin.create_topics(
                        [TopicSpec(self._topic, 1, {"cleanup.policy": "compact"})],
                        timeout=self._timeout,
                    )
        finally:
            admin.close()
        self._ensured = True

    def load(self) -> dict[str, Any] | None:
        """The last position stored under this capture's name (reads the whole topic)."""
        self._ensure_topic()
        consumer = self._log.consumer()
        try:
            tp = TopicPartition(self._topic, 0)
            _, high = consumer.watermarks(tp, timeout=self._timeout)
            consumer.assign([tp], at={tp: 0})
            found: dict[str, Any] | None = None
            position = 0
            deadline = time.monotonic() + self._timeout
            while position < high:
                if time.monotonic() > deadline:
                    raise CdcError(
                        f"reading stored positions from topic {self._topic!r} timed out at "
                        f"offset {position} of {high}"
                    )
                for record in consumer.poll(max_records=1000, timeout=1.0):
                    position = record.offset + 1
                    if record.key == self._key:
                        found = None if record.value is None else _decode(record.value)
            return found
        finally:
            consumer.close()

    def save(self, position: dict[str, Any]) -> None:
        """Append the position and wait until the log acknowledged it."""
        self._ensure_topic()
        if self._producer is None:
            self._producer = self._log.producer()
        self._producer.send(self._topic, orjson.dumps(position), self._key)
        self._producer.flush(self._timeout)

    def forget(self) -> None:
        """Write a tombstone for this capture's name."""
        self._ensure_topic()
        if self._producer is None:
            self._producer = self._log.producer()
        self._producer.send(self._topic, None, self._key)
        self._producer.flush(self._timeout)

    def close(self) -> None:
        """Close the producer if this store opened it."""
        if self._own_producer and self._producer is not None:
            self._producer.close()
            self._producer = None


class FileOffsetStore:
    """The position in a JSON file, replaced atomically (write, fsync, rename, fsync dir)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)

    def load(self) -> dict[str, Any] | None:
        """The stored position, None when the file does not exist."""
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return None
        return _decode(data, where=str(self._path))

    def save(self, position: dict[str, Any]) -> None:
        """Replace the file's content with ``position``, durably."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + ".tmp")
        with open(tmp, "wb") as out:
            out.write(orjson.dumps(position))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self._path)
        fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def forget(self) -> None:
        """Delete the file."""
        self._path.unlink(missing_ok=True)

    def close(self) -> None:
        """Nothing to release."""


def _decode(data: bytes, where: str = "the offsets topic") -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CdcError(f"stored position in {where} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CdcError(f"stored position in {where} is not a JSON object: {value!r}")
    return value
