"""Translation of librdkafka errors (``KafkaError`` codes) into :mod:`strom.errors`.

Every error that leaves the Kafka backend goes through :func:`translate`, so users only ever
catch strom's hierarchy, and every message names the operation and where it happened.

Example:
    >>> from confluent_kafka import KafkaError
    >>> err = translate(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART), "describe", topic="t")
    >>> type(err).__name__
    'TopicNotFoundError'
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from strom.errors import (
    BrokerError,
    BrokerUnavailableError,
    CommitError,
    ConfigError,
    MemberFencedError,
    ProducerFencedError,
    RecordTooLargeError,
    StromError,
    TopicExistsError,
    TopicNotFoundError,
    TransactionError,
)

TOPIC_NOT_FOUND = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError.UNKNOWN_TOPIC_ID,
    }
)
TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})
INVALID_INPUT = frozenset(
    {
        KafkaError.INVALID_CONFIG,
        KafkaError.INVALID_PARTITIONS,
        KafkaError.INVALID_REPLICATION_FACTOR,
        KafkaError.POLICY_VIOLATION,
        KafkaError._INVALID_ARG,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.INVALID_REPLICA_ASSIGNMENT,
        KafkaError.INVALID_TIMESTAMP,
    }
)
UNREACHABLE = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE})
AUTHENTICATION = frozenset(
    {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL}
)
FENCED = frozenset(
    {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
)
AUTHORIZATION = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)
# Errors a consumer reports that librdkafka does not get past by itself: going on would read
# nothing (or the wrong thing) forever, so the application must hear of them.
NOT_RETRIED = (
    TOPIC_NOT_FOUND
    | AUTHENTICATION
    | AUTHORIZATION
    | frozenset(
        {
            KafkaError._AUTO_OFFSET_RESET,  # auto.offset.reset=error and no committed offset
            KafkaError._INVALID_ARG,
            KafkaError._UNSUPPORTED_FEATURE,
            KafkaError.UNSUPPORTED_VERSION,
            KafkaError.INVALID_GROUP_ID,
            KafkaError._FATAL,
        }
    )
)


def survivable(err: KafkaError) -> bool:
    """True for an error librdkafka recovers from by itself (a broker restarting, a
    coordinator moving or loading, a leader election, a request timing out): it is logged
    and counted, and the client goes on. False for fatal errors and those it does not retry.

    Example:
        >>> survivable(KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS))
        True
        >>> survivable(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
        False
    """
    return not err.fatal() and err.code() not in NOT_RETRIED


def kafka_error(exc: BaseException) -> KafkaError | None:
    """The ``KafkaError`` carried by a ``KafkaException`` (None for other exceptions)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def fenced_member(err: KafkaError) -> bool:
    """True for a static member fenced by another one with its ``group.instance.id``
    (librdkafka reports it as a fatal consumer error naming the cause).

    Example:
        >>> fenced_member(KafkaError(KafkaError.FENCED_INSTANCE_ID))
        True
    """
    code = err.code()
    return code == KafkaError.FENCED_INSTANCE_ID or (
        code == KafkaError._FATAL and "group.instance.id" in (err.str() or "")
    )


def where(topic: str | None = None, partition: int | None = None) -> str:
    """`` (topic 't', partition 3)`` or an empty string."""
    parts = []
    if topic is not None:
        parts.append(f"topic {topic!r}")
    if partition is not None and partition >= 0:
        parts.append(f"partition {partition}")
    return f" ({', '.join(parts)})" if parts else ""


def translate(
    err: KafkaError | BaseException,
    action: str,
    *,
    topic: str | None = None,
    partition: int | None = None,
    bootstrap: str | None = None,
    transactional: bool = False,
) -> StromError:
    """The strom error for a librdkafka error met while doing ``action``.

    Args:
        err: the ``KafkaError`` (or a ``KafkaException`` carrying one).
        action: what was being done, e.g. ``"create topic 'orders'"``.
        topic: the topic concerned, if any.
        partition: the partition concerned, if any.
        bootstrap: the broker addresses, named in connection errors.
        transactional: map remaining errors to :class:`TransactionError`.
    """
    if not isinstance(err, KafkaError):
        inner = kafka_error(err)
        if inner is None:
            return BrokerError(f"{action} failed{where(topic, partition)}: {err}")
        err = inner
    code = err.code()
    detail = err.str()
    at = where(topic, partition)
    if code in TOPIC_NOT_FOUND:
        name = f"topic {topic!r}" if topic is not None else "a topic"
        return TopicNotFoundError(
            f"{action} failed: {name} does not exist{at}: {detail}; create it first "
            "(Admin.create_topics or `strom topics create`)"
        )
    if code == KafkaError.TOPIC_ALREADY_EXISTS:
        return TopicExistsError(f"{action} failed: topic {topic!r} already exists")
    if code in TOO_LARGE:
        return RecordTooLargeError(
            f"{action} failed{at}: the record is larger than the limit "
            f"(message.max.bytes / the topic's max.message.bytes): {detail}"
        )
    if code in INVALID_INPUT:
        return ConfigError(f"{action} failed{at}: {detail}")
    if fenced_member(err):
        return MemberFencedError(
            f"{action} failed: this consumer was fenced: another member of the group joined "
            f"with the same group.instance.id (or the broker holds another member id for it); "
            f"it must be closed and created again: {detail}"
        )
    if code in FENCED:
        return ProducerFencedError(
            f"{action} failed: another producer with the same transactional.id took over; "
            f"this producer must be closed: {detail}"
        )
    if code in UNREACHABLE:
        return BrokerUnavailableError(
            f"{action} failed: cannot reach the Kafka broker at {bootstrap or '?'}: {detail}; "
            "check the address and that the broker is running"
        )
    if code in AUTHENTICATION:
        return BrokerError(
            f"{action} failed: authentication with the Kafka broker at {bootstrap or '?'} "
            f"failed: {detail}; check the security.protocol, sasl.* and ssl.* settings"
        )
    if code == KafkaError._TIMED_OUT:
        return BrokerError(
            f"{action} timed out{at}: {detail}; the broker at {bootstrap or '?'} did not answer "
            "in time"
        )
    if transactional:
        hint = ""
        if err.txn_requires_abort():
            hint = "; abort the transaction and retry it"
        elif err.retriable():
            hint = "; the operation can be retried"
        return TransactionError(f"{action} failed: {detail}{hint}")
    return BrokerError(f"{action} failed{at}: {detail} ({err.name()})")


def commit_error(
    err: KafkaError | BaseException,
    action: str,
    *,
    topic: str | None = None,
    partition: int | None = None,
    bootstrap: str | None = None,
) -> StromError:
    """Like :func:`translate`, but broker-side refusals become :class:`CommitError`."""
    translated = translate(err, action, topic=topic, partition=partition, bootstrap=bootstrap)
    if type(translated) is BrokerError:
        return CommitError(str(translated))
    return translated
