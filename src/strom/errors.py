"""The strom error hierarchy: one root, one subclass per category.

Every error a user can meet derives from :class:`StromError`. Messages name what is wrong, where
(step, topic, partition, offset, file) and, where possible, what the user can do about it.

Example:
    >>> from strom.errors import StromError, ConfigError
    >>> try:
    ...     raise ConfigError("broker URL 'kafak://x' has unknown scheme 'kafak'")
    ... except StromError as exc:
    ...     print(type(exc).__name__)
    ConfigError
"""

from __future__ import annotations


class StromError(Exception):
    """Root of every error strom raises."""


class ConfigError(StromError, ValueError):
    """Invalid configuration: a malformed URL, an unknown option, an invalid name."""


class SerializationError(StromError):
    """A value could not be serialized or deserialized.

    Attributes:
        topic: the topic of the record, when known.
        partition: the partition of the record, when known.
        offset: the offset of the record, when known.
        step: the step that could not serialize its output (``to``, a repartitioning
            ``key_by``), when it is one; its error policy applies.
    """

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        step: str | None = None,
    ) -> None:
        where = []
        if topic is not None:
            where.append(f"topic={topic!r}")
        if partition is not None:
            where.append(f"partition={partition}")
        if offset is not None:
            where.append(f"offset={offset}")
        full = f"{message} ({', '.join(where)})" if where else message
        super().__init__(full)
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.step = step


class ProcessingError(StromError):
    """A user function raised while processing a record.

    Attributes:
        step: the step whose function raised, when known.
        topic: the topic of the record, when known.
        partition: the partition of the record, when known.
        offset: the offset of the record, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.topic = topic
        self.partition = partition
        self.offset = offset


class SinkBusyError(StromError):
    """Raised by a sink to ask for back-pressure: "try again later".

    The runtime pauses the application's partitions for ``retry_after`` seconds and then
    re-delivers every record since the last checkpoint (so the sink must drop what it buffered
    since its last successful flush before raising).

    Attributes:
        retry_after: seconds to wait before records are delivered again.
    """

    def __init__(self, message: str = "sink is busy", *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MissingDependencyError(ConfigError, ImportError):
    """An optional part of strom is used without its extra installed; the message names the
    extra (``pip install 'strom[avro]'``)."""


class UnsupportedError(StromError, NotImplementedError):
    """A feature strom does not implement yet; the message says what and where it will come."""


class StateError(StromError):
    """A state store failed (open, read, write, restore)."""


class StoreRestoringError(StateError):
    """A query reached a store partition that is being restored: its answer would be stale.
    Ask again later (HTTP: 503)."""


class NotOwnedError(StateError):
    """A query for a key whose store partition this process does not hold, and that could
    not be forwarded to the process that does (rebalancing, or no endpoint known)."""


class CommitError(StromError):
    """Committing offsets (or a transaction) failed."""


class EventStoreError(StromError):
    """The event store (``strom.es``) refused or failed a request; subclasses in
    :mod:`strom.es.errors` (concurrency conflicts, invalid or unknown events)."""


class BrokerError(StromError):
    """The log (Kafka or the embedded log) failed or refused a request."""


class FlushTimeoutError(BrokerError):
    """A flush ran out of time with records not yet acknowledged; the producer goes on
    retrying them (they are not lost, and not known to be stored either)."""


class BrokerUnavailableError(BrokerError):
    """The broker could not be reached within the configured time."""


class TopicNotFoundError(BrokerError):
    """A topic named in a request does not exist."""


class TopicExistsError(BrokerError):
    """A topic to be created already exists."""


class RecordTooLargeError(BrokerError):
    """A record is larger than the log accepts; the message names size and limit."""


class DeliveryError(BrokerError):
    """A produced record was not acknowledged by the log."""


class TransactionError(BrokerError):
    """A transaction could not be begun, committed or aborted."""


class ProducerFencedError(TransactionError):
    """Another producer with the same transactional id took over; this one must stop."""


class GroupFencedError(ProducerFencedError, CommitError):
    """A consumer group member's generation is over (it was removed from the group, or its
    partitions were handed to others): its offset commit, or the transaction carrying its
    offsets, was refused and nothing of it was written. Poll to rejoin, then process again
    from the committed offsets."""


class MemberFencedError(BrokerError):
    """This consumer was fenced: a member with the same ``group.instance.id`` (static
    membership) joined the group, or the broker (e.g. after a restart mid-rebalance) holds
    another member id for it. The consumer cannot go on; close it and create a new one. The
    runner does that by itself, and stops with this error when it keeps being fenced (two
    processes configured with one ``group.instance.id``)."""


class StorageError(BrokerError):
    """The embedded log's files are unusable (I/O error, disk full)."""


class CorruptRecordError(StorageError):
    """A stored record batch failed its checksum; the message names file and position."""


# Error policies live in their own module; re-exported so users write strom.errors.dead_letter().
from strom.error_policies import (  # noqa: E402
    Action,
    Backoff,
    ErrorHandler,
    ErrorPolicy,
    ErrorResponse,
    backoff,
    dead_letter,
    fail,
    retry,
    skip,
)

__all__ = [
    "Action",
    "Backoff",
    "BrokerError",
    "BrokerUnavailableError",
    "CommitError",
    "ConfigError",
    "CorruptRecordError",
    "DeliveryError",
    "ErrorHandler",
    "ErrorPolicy",
    "ErrorResponse",
    "EventStoreError",
    "FlushTimeoutError",
    "GroupFencedError",
    "MemberFencedError",
    "MissingDependencyError",
    "NotOwnedError",
    "ProcessingError",
    "ProducerFencedError",
    "RecordTooLargeError",
    "SerializationError",
    "SinkBusyError",
    "StateError",
    "StorageError",
    "StoreRestoringError",
    "StromError",
    "TopicExistsError",
    "TopicNotFoundError",
    "TransactionError",
    "UnsupportedError",
    "backoff",
    "dead_letter",
    "fail",
    "retry",
    "skip",
]
