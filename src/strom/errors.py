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
    """

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
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


class ProcessingError(StromError):
    """A user function raised while processing a record."""


class StateError(StromError):
    """A state store failed (open, read, write, restore)."""


class CommitError(StromError):
    """Committing offsets (or a transaction) failed."""


class BrokerError(StromError):
    """The log (Kafka or the embedded log) failed or refused a request."""


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


class StorageError(BrokerError):
    """The embedded log's files are unusable (I/O error, disk full)."""


class CorruptRecordError(StorageError):
    """A stored record batch failed its checksum; the message names file and position."""
