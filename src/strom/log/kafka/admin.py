"""Topic and group administration on Kafka, over confluent-kafka's ``AdminClient``.

Creating or deleting a topic returns only once the broker's metadata shows the change, so a
producer or consumer opened right after sees the topic (or its absence).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient

# Imported from where they are defined: confluent_kafka.admin re-exports them implicitly only.
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.cimpl import NewTopic

from strom.errors import BrokerError, ConfigError
from strom.log.kafka.config import create_client, with_error_cb
from strom.log.kafka.errors import TOPIC_NOT_FOUND, translate
from strom.log.kafka.health import ClientErrors, Reachability
from strom.log.kafka.metadata import partition_count
from strom.log.types import PartitionLag, TopicDescription, TopicPartition, TopicSpec

T = TypeVar("T")

_STEP = 0.1

_log = logging.getLogger(__name__)


class KafkaAdmin:
    """:class:`strom.log.Admin` for Kafka.

    Example:
        >>> import strom.log
        >>> admin = strom.log.connect("kafka://127.0.0.1:9092").admin()  # doctest: +SKIP
        >>> admin.create_topics([strom.log.TopicSpec("orders", partitions=6)])  # doctest: +SKIP
    """

    def __init__(self, bootstrap: str, config: dict[str, Any], reach: Reachability) -> None:
        self._bootstrap = bootstrap
        self._reach = reach
        self._errors = ClientErrors(bootstrap, "admin client")
        self._client: AdminClient = create_client(
            AdminClient, with_error_cb(config, self._errors.on_error), "admin client"
        )
        self._closed = False

    # --- helpers ------------------------------------------------------------------------------

    def _ready(self, action: str, timeout: float) -> None:
        if self._closed:
            raise BrokerError(f"{action} failed: the admin client is closed")
        self._reach.ensure(action, timeout)

    def _wait(self, future: Future[T], action: str, deadline: float, **where: Any) -> T:
        """The future's result, serving callbacks while waiting; errors translated."""
        while not future.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerError(
                    f"{action} timed out: no answer from the Kafka broker at {self._bootstrap}"
                )
            self._client.poll(0)
            try:
                future.exception(timeout=min(_STEP, remaining))
            except TimeoutError:
                continue
        try:
            return future.result()
        except KafkaException as exc:
            raise translate(exc, action, bootstrap=self._bootstrap, **where) from None

    def _metadata(self, action: str, timeout: float, topic: str | None = None) -> Any:
        try:
            if topic is None:
                return self._client.list_topics(timeout=timeout)
            return self._client.list_topics(topic=topic, timeout=timeout)
        except KafkaException as exc:
            raise translate(exc, action, bootstrap=self._bootstrap, topic=topic) from None

    def _await_metadata(
        self, names: Sequence[str], present: bool, action: str, deadline: float
    ) -> None:
        """Wait until every topic in ``names`` is (or is no longer) in the metadata."""

        def settled(name: str) -> bool:
            meta = self._metadata(action, max(deadline - time.monotonic(), 0.1), name)
            topic = meta.topics.get(name)
            exists = (
                topic is not None
                and (topic.error is None or topic.error.code() not in TOPIC_NOT_FOUND)
                and bool(topic.partitions)
            )
            if exists and present:
                # Created is not yet served: wait until every partition has a leader.
                return all(
                    part.leader >= 0 and part.error is None for part in topic.partitions.values()
                )
            return exists == present

        pending = list(names)
        while pending:
            pending = [name for name in pending if not settled(name)]
            if not pending:
                return
            if time.monotonic() >= deadline:
                state = "appear in" if present else "disappear from"
                raise BrokerError(
                    f"{action}: topics {pending} did not {state} the broker's metadata in time"
                )
            time.sleep(_STEP)

    # --- topics -------------------------------------------------------------------------------

    def create_topics(self, specs: Sequence[TopicSpec], *, timeout: float = 30.0) -> None:
        """Create topics; returns once the broker's metadata shows them.

        Raises:
            TopicExistsError: a topic exists already.
            ConfigError: invalid partition count, replication factor or topic config.
        """
        if not specs:
            return
        action = "create topics " + ", ".join(repr(s.name) for s in specs)
        self._ready(action, timeout)
        deadline = time.monotonic() + timeout
        for spec in specs:
            if spec.partitions < 1:
                raise ConfigError(
                    f"create topic {spec.name!r} failed: partitions must be >= 1, "
                    f"got {spec.partitions}"
                )
        new = [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication_factor,
                config={k: str(v) for k, v in spec.config.items()},
            )
            for spec in specs
        ]
        futures = self._client.create_topics(
            new, operation_timeout=timeout, request_timeout=timeout
        )
        for name, future in futures.items():
            self._wait(future, f"create topic {name!r}", deadline, topic=name)
        self._await_metadata([s.name for s in specs], True, action, deadline)

    def delete_topics(self, names: Sequence[str], *, timeout: float = 30.0) -> None:
        """Delete topics; returns once the broker's metadata no longer shows them.

        Raises:
            TopicNotFoundError: a topic does not exist.
        """
        if not names:
            return
        action = "delete topics " + ", ".join(repr(n) for n in names)
        self._ready(action, timeout)
        deadline = time.monotonic() + timeout
        futures = self._client.delete_topics(
            list(names), operation_timeout=timeout, request_timeout=timeout
        )
        for name, future in futures.items():
            self._wait(future, f"delete topic {name!r}", deadline, topic=name)
        self._await_metadata(list(names), False, action, deadline)

    def list_topics(self, *, timeout: float = 30.0) -> list[str]:
        """Names of user topics (internal ``__*`` topics excluded), sorted."""
        self._ready("list topics", timeout)
        meta = self._metadata("list topics", timeout)
        return sorted(name for name in meta.topics if not name.startswith("__"))

    def describe_topic(self, name: str, *, timeout: float = 30.0) -> TopicDescription:
        """Partition count and every config of a topic (defaults included), as strings."""
        action = f"describe topic {name!r}"
        self._ready(action, timeout)
        deadline = time.monotonic() + timeout
        partitions = partition_count(
            self._client, name, action, bootstrap=self._bootstrap, timeout=timeout
        )
        resource = ConfigResource(ConfigResource.Type.TOPIC, name)
        futures = self._client.describe_configs([resource], request_timeout=timeout)
        entries = self._wait(futures[resource], action, deadline, topic=name)
        config = {key: entry.value for key, entry in entries.items() if entry.value is not None}
        return TopicDescription(name=name, partitions=partitions, config=config)

    # --- groups and offsets -------------------------------------------------------------------

    def list_groups(self, *, timeout: float = 30.0) -> list[str]:
        """Consumer group ids known to the broker, sorted."""
        self._ready("list groups", timeout)
        deadline = time.monotonic() + timeout
        future = self._client.list_consumer_groups(request_timeout=timeout)
        result = self._wait(future, "list groups", deadline)
        return sorted(listing.group_id for listing in result.valid)

    def group_offsets(self, group: str, *, timeout: float = 30.0) -> dict[TopicPartition, int]:
        """Committed offsets (next offset to read) of ``group``, per partition."""
        action = f"read committed offsets of group {group!r}"
        self._ready(action, timeout)
        deadline = time.monotonic() + timeout
        futures = self._client.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
        )
        result = self._wait(futures[group], action, deadline)
        return {
            TopicPartition(tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions or []
            if tp.offset >= 0
        }

    def end_offsets(
        self, partitions: Sequence[TopicPartition], *, timeout: float = 30.0
    ) -> dict[TopicPartition, int]:
        """The high watermark of each partition.

        Raises:
            TopicNotFoundError: a topic or partition does not exist.
            BrokerError: no valid answer within ``timeout``.
        """
        if not partitions:
            return {}
        self._ready("read end offsets", timeout)
        deadline = time.monotonic() + timeout
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        out: dict[TopicPartition, int] = {}
        asked = list(dict.fromkeys(TopicPartition(t, p) for t, p in partitions))
        while True:
            request = {KafkaTopicPartition(t, p): latest for t, p in asked}
            futures = self._client.list_offsets(
                request,
                isolation_level=IsolationLevel.READ_UNCOMMITTED,
                request_timeout=max(deadline - time.monotonic(), 0.1),
            )
            again: list[TopicPartition] = []
            for ktp, future in futures.items():
                tp = TopicPartition(ktp.topic, ktp.partition)
                action = f"read end offset of {tp.topic}[{tp.partition}]"
                info = self._wait(future, action, deadline, topic=tp.topic, partition=tp.partition)
                if info.offset >= 0:
                    out[tp] = info.offset
                    continue
                # "No offset" (-1) without an error: taken as an end of -1, a caller would
                # find the partition empty or read to its end. Asked again until the deadline.
                if time.monotonic() >= deadline:
                    raise BrokerError(
                        f"{action} failed: the broker at {self._bootstrap} answered "
                        f"{info.offset} (no offset) until the {timeout:g} s timeout ran out"
                    )
                again.append(tp)
            if not again:
                return {TopicPartition(*tp): out[TopicPartition(*tp)] for tp in partitions}
            _log.warning(
                "the broker answered no end offset for %s; asking again",
                ", ".join(f"{t}[{p}]" for t, p in again),
            )
            time.sleep(0.1)
            asked = again

    def group_lag(self, group: str, *, timeout: float = 30.0) -> list[PartitionLag]:
        """Committed offset, end offset and lag of each partition ``group`` committed on."""
        committed = self.group_offsets(group, timeout=timeout)
        ends = self.end_offsets(sorted(committed), timeout=timeout)
        return [
            PartitionLag(tp.topic, tp.partition, offset, ends[tp], max(ends[tp] - offset, 0))
            for tp, offset in sorted(committed.items())
        ]

    def delete_records(
        self, offsets: Mapping[TopicPartition, int], *, timeout: float = 30.0
    ) -> None:
        """Delete every record before each offset (``OFFSET_END``: all); the low watermark
        moves up to it.

        Raises:
            TopicNotFoundError: a topic does not exist.
            ConfigError: an offset is past the high watermark (or otherwise invalid).
        """
        if not offsets:
            return
        self._ready("delete records", timeout)
        deadline = time.monotonic() + timeout
        request = [KafkaTopicPartition(t, p, int(o)) for (t, p), o in offsets.items()]
        futures = self._client.delete_records(
            request, request_timeout=timeout, operation_timeout=timeout
        )
        for ktp, future in futures.items():
            action = f"delete records of {ktp.topic}[{ktp.partition}] before offset {ktp.offset}"
            try:
                self._wait(future, action, deadline, topic=ktp.topic, partition=ktp.partition)
            except BrokerError as exc:
                if "OFFSET_OUT_OF_RANGE" in str(exc) or "out of range" in str(exc).lower():
                    raise ConfigError(
                        f"{action} failed: the offset is past the high watermark: {exc}"
                    ) from None
                raise

    def close(self) -> None:
        """Release the client (idempotent)."""
        self._closed = True
