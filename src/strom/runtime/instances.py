"""Who runs the application and owns what: each process publishes its id, its query endpoint
and the stateful task partitions it owns to the compacted internal topic
``{app}-instances``, and reads everybody's from it.

Queries for a key another process owns are forwarded there; standby replicas are placed from
this view. A process publishes after every rebalance and every ``heartbeat`` seconds; an
entry not refreshed for three heartbeats (a process killed without a goodbye) no longer
counts. A clean stop writes a tombstone.

Example:
    >>> view = Membership("me")
    >>> view.update("me", {"endpoint": None, "tasks": [["orders", 0]], "at": 10.0})
    >>> view.update("other", {"endpoint": "http://127.0.0.1:9", "tasks": [["orders", 1]],
    ...                       "at": 10.0})
    >>> view.owner(("orders", 1), now=11.0)
    ('other', 'http://127.0.0.1:9')
    >>> view.live(now=11.0)
    ['me', 'other']
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson

from strom.errors import StromError, TopicExistsError
from strom.log.protocols import Consumer, Log, Producer
from strom.log.types import OFFSET_BEGINNING, TopicPartition, TopicSpec

log = logging.getLogger("strom.runtime")

HEARTBEAT = 10.0
"""Seconds between two publications of a process's entry."""

TaskId = tuple[str, int]
"""A stateful task: (subtopology, partition)."""


def instances_topic(app: str) -> str:
    """The internal topic of application ``app``'s instances.

    Example:
        >>> instances_topic("orders")
        'orders-instances'
    """
    return f"{app}-instances"


class Membership:
    """The latest entry of every process, and the questions asked of them."""

    def __init__(self, me: str, heartbeat: float = HEARTBEAT) -> None:
        self.me = me
        self._heartbeat = heartbeat
        self._entries: dict[str, dict[str, Any]] = {}

    def update(self, instance: str, entry: dict[str, Any] | None) -> None:
        """An entry read (None: the process left)."""
        if entry is None:
            self._entries.pop(instance, None)
        else:
            self._entries[instance] = entry

    def _fresh(self, now: float) -> dict[str, dict[str, Any]]:
        limit = 3 * self._heartbeat
        return {i: e for i, e in self._entries.items() if now - float(e.get("at", 0)) <= limit}

    def live(self, now: float | None = None) -> list[str]:
        """The ids of the processes that published recently, sorted."""
        return sorted(self._fresh(time.time() if now is None else now))

    def owner(self, task: TaskId, now: float | None = None) -> tuple[str, str | None] | None:
        """(id, endpoint) of the process that owns ``task`` (the latest claim), or None."""
        best: tuple[float, str, str | None] | None = None
        for instance, entry in self._fresh(time.time() if now is None else now).items():
            if [task[0], task[1]] in entry.get("tasks", []):
                at = float(entry.get("at", 0))
                if best is None or at > best[0]:
                    best = (at, instance, entry.get("endpoint"))
        return None if best is None else (best[1], best[2])

    def endpoints(self, now: float | None = None) -> dict[str, str | None]:
        """Every live process's endpoint, by id."""
        fresh = self._fresh(time.time() if now is None else now)
        return {i: e.get("endpoint") for i, e in fresh.items()}

    def owned(self, now: float | None = None) -> dict[TaskId, str]:
        """The owner of every task somebody claims."""
        out: dict[TaskId, tuple[float, str]] = {}
        for instance, entry in self._fresh(time.time() if now is None else now).items():
            at = float(entry.get("at", 0))
            for sub, p in entry.get("tasks", []):
                known = out.get((sub, p))
                if known is None or at > known[0]:
                    out[sub, p] = (at, instance)
        return {task: instance for task, (_, instance) in out.items()}


class Instances:
    """Publishes this process's entry and follows everybody's.

    Args:
        log_: the application's log.
        app: the application's name.
        instance: this process's id (stable per process slot).
        endpoint: the URL other processes forward queries to (None: not reachable).
    """

    def __init__(self, log_: Log, app: str, instance: str, endpoint: str | None) -> None:
        self._log = log_
        self._topic = instances_topic(app)
        self.instance = instance
        self.endpoint = endpoint
        self.view = Membership(instance)
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._tasks: list[TaskId] = []
        self._next_publish = 0.0

    def start(self, timeout: float = 30.0) -> None:
        """Create the topic if needed and read what is in it."""
        admin = self._log.admin()
        try:
            try:
                spec = TopicSpec(self._topic, 1, {"cleanup.policy": "compact"})
                admin.create_topics([spec], timeout=timeout)
            except TopicExistsError:
                pass
            for _ in range(50):
                try:
                    admin.describe_topic(self._topic, timeout=timeout)
                    break
                except StromError:
                    time.sleep(0.1)
        finally:
            admin.close()
        self._producer = self._log.producer()
        consumer = self._consumer = self._log.consumer(None)
        tp = TopicPartition(self._topic, 0)
        consumer.assign([tp], at={tp: OFFSET_BEGINNING})
        self.poll(0.5)

    def publish(self, tasks: Iterable[TaskId] | None = None) -> None:
        """Publish this process's entry (with ``tasks`` when they changed)."""
        if tasks is not None:
            self._tasks = sorted(tasks)
        producer = self._producer
        if producer is None:
            return
        entry = {
            "endpoint": self.endpoint,
            "tasks": [list(t) for t in self._tasks],
            "at": time.time(),
        }
        self.view.update(self.instance, entry)
        producer.send(self._topic, orjson.dumps(entry), self.instance.encode())
        producer.poll(0)
        self._next_publish = time.monotonic() + HEARTBEAT

    def poll(self, timeout: float = 0.0) -> None:
        """Read the entries published since the last call; heartbeat when due."""
        consumer = self._consumer
        if consumer is None:
            return
        for record in consumer.poll(1000, timeout):
            instance = (record.key or b"").decode("utf-8", "replace")
            try:
                entry = orjson.loads(record.value) if record.value is not None else None
            except orjson.JSONDecodeError:
                log.warning("ignoring a malformed entry of %s in %s", instance, self._topic)
                continue
            if instance != self.instance:
                self.view.update(instance, entry)
        if self._producer is not None and time.monotonic() >= self._next_publish:
            self.publish()

    def close(self) -> None:
        """Say goodbye (a tombstone) and close the clients."""
        if self._producer is not None:
            try:
                self._producer.send(self._topic, None, self.instance.encode())
                self._producer.close(5.0)
            except StromError as exc:
                log.debug("could not say goodbye in %s: %s", self._topic, exc)
            self._producer = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
