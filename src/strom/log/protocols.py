"""The log interface: one Protocol per role, implemented by every backend.

Backends: ``strom.log.kafka`` (Apache Kafka and Kafka-protocol brokers, through
confluent-kafka) and ``strom.log.local`` (the embedded durable log). Open one with
:func:`strom.log.connect`. The contract suite in ``tests/contract`` runs against each.

Conventions shared by every backend:

* offsets committed for a partition are the offset of the *next* record to read (Kafka's);
* rebalance callbacks run inside :meth:`Consumer.poll`, on the caller's thread;
* every blocking call takes a timeout in seconds and raises a :class:`~strom.errors.StromError`
  subclass when it runs out, never hangs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from strom.log.types import (
    HeadersInput,
    IsolationLevel,
    OffsetReset,
    PartitionLag,
    Record,
    RecordMetadata,
    TopicDescription,
    TopicPartition,
    TopicSpec,
)

DeliveryCallback = Callable[[RecordMetadata | None, Exception | None], None]
"""Called once per produced record: (metadata, None) when stored, (None, error) when not."""

RebalanceCallback = Callable[[list[TopicPartition]], None]
"""Called with the partitions assigned, revoked or lost in a rebalance."""


@runtime_checkable
class Admin(Protocol):
    """Topic administration."""

    def create_topics(self, specs: Sequence[TopicSpec], *, timeout: float = 30.0) -> None:
        """Create topics; raises TopicExistsError if one exists, ConfigError on bad configs."""
        ...

    def delete_topics(self, names: Sequence[str], *, timeout: float = 30.0) -> None:
        """Delete topics and their data; raises TopicNotFoundError for unknown names."""
        ...

    def list_topics(self, *, timeout: float = 30.0) -> list[str]:
        """Names of user topics (internal topics such as __consumer_offsets excluded), sorted."""
        ...

    def describe_topic(self, name: str, *, timeout: float = 30.0) -> TopicDescription:
        """Partition count and configs of a topic; raises TopicNotFoundError."""
        ...

    def list_groups(self, *, timeout: float = 30.0) -> list[str]:
        """Consumer group ids known to the log, sorted."""
        ...

    def group_offsets(self, group: str, *, timeout: float = 30.0) -> dict[TopicPartition, int]:
        """Committed offsets of a consumer group (next offset to read), per partition."""
        ...

    def end_offsets(
        self, partitions: Sequence[TopicPartition], *, timeout: float = 30.0
    ) -> dict[TopicPartition, int]:
        """The high watermark (offset after the last record) of each partition."""
        ...

    def group_lag(self, group: str, *, timeout: float = 30.0) -> list[PartitionLag]:
        """Committed offset, end offset and lag of every partition the group committed on."""
        ...

    def delete_records(
        self, offsets: Mapping[TopicPartition, int], *, timeout: float = 30.0
    ) -> None:
        """Delete every record before the given offset of each partition (``OFFSET_END``: all
        of them): the low watermark moves up to it, and reading below it behaves as reading
        below retention (``auto_offset_reset``). Used to purge repartition topics up to the
        committed offsets. Raises TopicNotFoundError, or ConfigError for an offset past the
        high watermark."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


@runtime_checkable
class Producer(Protocol):
    """Appends records to topics.

    Idempotent with ``acks=all`` by default. Sends are asynchronous and batched; delivery is
    reported through ``on_delivery`` and confirmed by :meth:`flush`.
    """

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        timestamp: int | None = None,
        headers: HeadersInput = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Queue one record. The partition defaults to a hash of the key (murmur2, Kafka's
        default partitioner, on every backend), or round-robin for a None key. Raises
        RecordTooLargeError, TopicNotFoundError, or BrokerError when the queue is full past
        the timeout."""
        ...

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued record is delivered or failed; raises DeliveryError
        naming the first failure, or BrokerError if the timeout runs out."""
        ...

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery callbacks without blocking longer than ``timeout``."""
        ...

    def partitions_for(self, topic: str, *, timeout: float = 30.0) -> int:
        """Number of partitions of ``topic``; raises TopicNotFoundError."""
        ...

    def init_transactions(self, timeout: float = 30.0) -> None:
        """Register the transactional id (fencing older producers with the same id)."""
        ...

    def begin_transaction(self) -> None:
        """Start a transaction: every send until commit/abort belongs to it."""
        ...

    def send_offsets_to_transaction(
        self,
        offsets: Mapping[TopicPartition, int],
        group_metadata: Any,
        timeout: float = 30.0,
    ) -> None:
        """Commit consumer offsets atomically with the transaction's records."""
        ...

    def commit_transaction(self, timeout: float = 30.0) -> None:
        """Make the transaction's records (and offsets) visible, atomically."""
        ...

    def abort_transaction(self, timeout: float = 30.0) -> None:
        """Discard the transaction's records (and offsets)."""
        ...

    def close(self, timeout: float = 30.0) -> None:
        """Flush and release resources."""
        ...


@runtime_checkable
class Consumer(Protocol):
    """Reads records from partitions, alone (manual assign) or as a member of a group."""

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None:
        """Join the consumer group and take a share of the topics' partitions."""
        ...

    def assign(
        self,
        partitions: Sequence[TopicPartition],
        *,
        at: Mapping[TopicPartition, int] | None = None,
    ) -> None:
        """Read exactly these partitions, outside of group membership: each one named in
        ``at`` from that offset (or OFFSET_BEGINNING / OFFSET_END), the others from the
        committed offset, else ``auto_offset_reset``. Starting in ``assign`` rather than with a
        :meth:`seek` after it costs no broker round trip per partition on Kafka."""
        ...

    def assignment(self) -> list[TopicPartition]:
        """The partitions currently assigned to this consumer."""
        ...

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """Up to ``max_records`` records, in offset order per partition; waits at most
        ``timeout`` seconds for the first. Rebalance callbacks run inside this call."""
        ...

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Continue reading ``partition`` at ``offset`` (or OFFSET_BEGINNING / OFFSET_END)."""
        ...

    def seek_to_timestamp(self, partitions: Sequence[TopicPartition], timestamp: int) -> None:
        """Continue each partition at its first record with timestamp >= ``timestamp``
        (at the end when there is none)."""
        ...

    def offsets_for_times(
        self, partitions: Sequence[TopicPartition], timestamp: int, *, timeout: float = 30.0
    ) -> dict[TopicPartition, int | None]:
        """Earliest offset whose timestamp is >= ``timestamp``, None when there is none."""
        ...

    def position(self, partition: TopicPartition) -> int | None:
        """Offset of the next record this consumer will return for ``partition``."""
        ...

    def commit(
        self, offsets: Mapping[TopicPartition, int] | None = None, *, timeout: float = 30.0
    ) -> None:
        """Commit synchronously: the given next-offsets, or the current positions."""
        ...

    def committed(
        self, partitions: Sequence[TopicPartition], *, timeout: float = 30.0
    ) -> dict[TopicPartition, int | None]:
        """The group's committed next-offset per partition, None where nothing is committed."""
        ...

    def watermarks(
        self, partition: TopicPartition, *, timeout: float = 30.0, cached: bool = False
    ) -> tuple[int, int]:
        """(low, high): first retained offset and the offset after the last record.

        ``cached``: the values this consumer last learned while fetching the partition, with
        no round trip to the broker (they may trail it by one fetch); asked from the broker
        when the partition is not being fetched (paused, or nothing fetched yet)."""
        ...

    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        """Stop returning records of these partitions until resumed (assignment is kept)."""
        ...

    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        """Return records of these partitions again."""
        ...

    def group_metadata(self) -> Any:
        """Opaque group metadata for :meth:`Producer.send_offsets_to_transaction`."""
        ...

    def close(self) -> None:
        """Leave the group (triggering a rebalance) and release resources."""
        ...


@runtime_checkable
class Log(Protocol):
    """A connection to one log: a factory of admins, producers and consumers.

    Example:
        >>> import strom.log, tempfile
        >>> log = strom.log.connect("local://" + tempfile.mkdtemp())
        >>> log.url.startswith("local://")
        True
    """

    url: str
    """The URL this log was opened with."""

    def admin(self) -> Admin:
        """A topic administration client."""
        ...

    def producer(
        self,
        *,
        transactional_id: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Producer:
        """A producer (transactional when ``transactional_id`` is given). ``options`` are
        backend settings (librdkafka's names for Kafka)."""
        ...

    def consumer(
        self,
        group_id: str | None = None,
        *,
        auto_offset_reset: OffsetReset = "earliest",
        isolation_level: IsolationLevel = "read_committed",
        options: Mapping[str, Any] | None = None,
    ) -> Consumer:
        """A consumer; with ``group_id`` it can subscribe and commit. Offsets are only
        committed explicitly (auto-commit off)."""
        ...

    def close(self) -> None:
        """Release resources shared by this log's clients."""
        ...
