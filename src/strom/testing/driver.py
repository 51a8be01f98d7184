"""Run an application in-process on a fresh embedded log: send records, read outputs.

The driver runs the application's own :class:`~strom.runtime.runner.Runner` (the code
``app.run()`` runs), one loop iteration at a time, on a temporary ``local://`` log in place of
the application's broker. Topics the application declares are created when missing (with
their declared partitions, else 1).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any

from strom.app import App
from strom.dsl.topic import Topic
from strom.errors import ConfigError, StromError, TopicNotFoundError
from strom.log import connect
from strom.log.protocols import Admin, Consumer, Log, Producer
from strom.log.types import OFFSET_BEGINNING, Headers, HeadersInput, TopicPartition, TopicSpec
from strom.runtime.runner import Runner


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """A record read back by :meth:`TestDriver.read_records`, decoded with its topic's serdes.

    Attributes:
        key: the decoded key.
        value: the decoded value.
        timestamp: epoch milliseconds.
        headers: ordered (name, bytes) pairs.
        partition: the partition it was written to.
        offset: its offset there.
    """

    key: Any
    value: Any
    timestamp: int
    headers: Headers
    partition: int
    offset: int


class TestDriver:
    """Drives an application on a temporary embedded log.

    Args:
        app: the application; its broker is not used.
        idle_timeout: most seconds :meth:`run_until_idle` waits before it raises.

    Example:
        >>> import strom
        >>> app = strom.App("docs-driver")
        >>> events, out = app.topic("events"), app.topic("out")
        >>> app.stream(events).filter(lambda e: e["ok"], name="ok").to(out)
        >>> with strom.testing.TestDriver(app) as driver:
        ...     driver.send(events, {"ok": True, "n": 1}, key="a")
        ...     driver.send(events, {"ok": False, "n": 2}, key="b")
        ...     driver.read(out)
        [{'ok': True, 'n': 1}]
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, app: App, *, idle_timeout: float = 30.0) -> None:
        self.app = app
        self._idle_timeout = idle_timeout
        self._directory: str | None = None
        self._log: Log | None = None
        self._admin: Admin | None = None
        self._producer: Producer | None = None
        self._runner: Runner | None = None
        self._readers: dict[str, Consumer] = {}
        self._offset = 0.0

    @property
    def runner(self) -> Runner:
        """The application's runner (started)."""
        if self._runner is None:
            raise StromError("the TestDriver is not started: use it in a `with` block")
        return self._runner

    @property
    def url(self) -> str:
        """The ``local://`` URL of the driver's log."""
        if self._log is None:
            raise StromError("the TestDriver is not started: use it in a `with` block")
        return self._log.url

    def __enter__(self) -> TestDriver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Create the log and the topics, and start the application's runner."""
        self._directory = tempfile.mkdtemp(prefix="strom-test-")
        self._log = connect(f"local://{self._directory}")
        self._admin = self._log.admin()
        for topic in self.app.topics.values():
            try:
                self._admin.describe_topic(topic.name)
            except TopicNotFoundError:
                spec = TopicSpec(topic.name, topic.partitions or 1, dict(topic.config))
                self._admin.create_topics([spec])
        self._producer = self._log.producer()
        # State stores live in the driver's directory too, never in the app's state_dir.
        settings = dataclasses.replace(self.app.settings, state_dir=f"{self._directory}/state")
        self._runner = Runner(self.app.graph, settings, self._log, clock=self._now)
        self._runner.start()

    def _now(self) -> float:
        return time.monotonic() + self._offset

    def advance_time(self, delta: timedelta | float) -> None:
        """Move the application's wall clock forward by ``delta`` (a timedelta or seconds),
        then process until idle.

        Event time moves with records (send them with ``timestamp=``); the wall clock
        matters to stateful steps whose inputs are quiet: with ``App(idle_timeout=...)``,
        once the inputs of a task have been quiet that long, its event time follows the
        wall clock and the windows it passes close (and are read with :meth:`read`).
        """
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ConfigError(f"advance_time() cannot go back in time, got {delta!r}")
        self.run_until_idle()
        self._offset += seconds
        self.runner.step(timeout=0)
        self.run_until_idle()

    def close(self) -> None:
        """Stop the runner and delete the temporary log."""
        try:
            if self._runner is not None:
                self._runner.close()
        finally:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
            for client in (self._producer, self._admin, self._log):
                if client is not None:
                    client.close()
            self._runner = self._producer = self._admin = self._log = None
            if self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
                self._directory = None

    def _topic(self, topic: Topic | str) -> Topic:
        name = topic.name if isinstance(topic, Topic) else topic
        known = self.app.topics.get(name)
        if known is None:
            raise ConfigError(f"topic {name!r} is not declared in application {self.app.name!r}")
        return known

    def send(
        self,
        topic: Topic | str,
        value: Any,
        key: Any = None,
        *,
        timestamp: int | None = None,
        headers: HeadersInput = None,
        partition: int | None = None,
    ) -> None:
        """Write one record to ``topic``, encoded with the topic's serdes.

        Records are processed by :meth:`run_until_idle`, which :meth:`read` calls.
        """
        if self._producer is None:
            raise StromError("the TestDriver is not started: use it in a `with` block")
        declared = self._topic(topic)
        self._producer.send(
            declared.name,
            declared.value.serialize(value),
            declared.key.serialize(key),
            partition=partition,
            timestamp=timestamp,
            headers=headers,
        )

    def run_until_idle(self) -> int:
        """Process until every record sent so far (and every record the application wrote to
        its own repartition topics) is processed and committed. Returns records processed.

        Raises:
            StromError: still not idle after ``idle_timeout`` seconds.
            ProcessingError, SerializationError: the application failed.
        """
        runner = self.runner
        assert self._producer is not None and self._admin is not None
        self._producer.flush()
        processed = 0
        deadline = time.monotonic() + self._idle_timeout
        while True:
            count = runner.step(timeout=0.05)
            processed += count
            if count:
                continue
            runner.checkpoint()
            lag = self._lag()
            if not lag:
                return processed
            if time.monotonic() > deadline:
                raise StromError(
                    f"application {self.app.name!r} is not idle after {self._idle_timeout} s; "
                    f"unprocessed records: {lag}"
                )

    def _lag(self) -> dict[str, int]:
        """Records not yet committed by the application, per 'topic[partition]'."""
        assert self._admin is not None
        committed = self._admin.group_offsets(self.app.name)
        partitions = [
            TopicPartition(name, p)
            for name in self.runner.source_topics
            for p in range(self._admin.describe_topic(name).partitions)
        ]
        ends = self._admin.end_offsets(partitions)
        return {
            f"{tp.topic}[{tp.partition}]": end - committed.get(tp, 0)
            for tp, end in ends.items()
            if end > committed.get(tp, 0)
        }

    def read_records(self, topic: Topic | str) -> list[OutputRecord]:
        """Process until idle, then the records written to ``topic`` since the last read,
        decoded, ordered by partition then offset."""
        self.run_until_idle()
        declared = self._topic(topic)
        assert self._log is not None and self._admin is not None
        reader = self._readers.get(declared.name)
        count = self._admin.describe_topic(declared.name).partitions
        partitions = [TopicPartition(declared.name, p) for p in range(count)]
        if reader is None:
            reader = self._readers[declared.name] = self._log.consumer()
            reader.assign(partitions, at=dict.fromkeys(partitions, OFFSET_BEGINNING))
        ends = self._admin.end_offsets(partitions)
        got: dict[int, list[OutputRecord]] = {p: [] for p in range(count)}
        deadline = time.monotonic() + self._idle_timeout
        while any((reader.position(tp) or 0) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise StromError(f"could not read topic {declared.name!r} to its end")
            for record in reader.poll(1000, 0.1):
                got[record.partition].append(
                    OutputRecord(
                        declared.key.deserialize(record.key),
                        declared.value.deserialize(record.value),
                        record.timestamp,
                        record.headers,
                        record.partition,
                        record.offset,
                    )
                )
        return [r for p in range(count) for r in got[p]]

    def read(self, topic: Topic | str) -> list[Any]:
        """Process until idle, then the values written to ``topic`` since the last read."""
        return [record.value for record in self.read_records(topic)]

    def store(self, name: str) -> Any:
        """Query store ``name`` (see :meth:`strom.App.store`), after processing until idle."""
        self.run_until_idle()
        queries = self.runner.queries
        if queries is None:
            raise StromError(f"application {self.app.name!r} has no stateful step")
        return queries.store(name)

    def committed(self) -> Mapping[TopicPartition, int]:
        """The application's committed offsets."""
        assert self._admin is not None
        return self._admin.group_offsets(self.app.name)
