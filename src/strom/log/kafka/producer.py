"""The Kafka producer: batched, idempotent sends with delivery results, and transactions.

Sends are asynchronous: :meth:`KafkaProducer.send` queues the record in librdkafka, which
batches per partition (``linger.ms``) and retries without duplicates (idempotence).
Delivery results arrive through callbacks served by :meth:`~KafkaProducer.poll` and
:meth:`~KafkaProducer.flush`.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as ConfluentProducer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from strom.errors import (
    BrokerError,
    DeliveryError,
    FlushTimeoutError,
    RecordTooLargeError,
    StromError,
    TopicNotFoundError,
    TransactionError,
)
from strom.log.kafka.config import create_client, message_max_bytes, with_error_cb
from strom.log.kafka.errors import TOO_LARGE, kafka_error, translate
from strom.log.kafka.health import ClientErrors, Reachability
from strom.log.kafka.metadata import partition_count
from strom.log.protocols import DeliveryCallback
from strom.log.types import HeadersInput, RecordMetadata, TopicPartition, normalize_headers

_STEP = 0.1
# How long send() waits for room when librdkafka's queue is full before giving up.
_QUEUE_FULL_WAIT = 30.0
_METADATA_TIMEOUT = 30.0


def _metadata_of(msg: Message) -> RecordMetadata:
    _, timestamp = msg.timestamp()
    # A delivered message always has topic, partition and offset.
    return RecordMetadata(msg.topic() or "", msg.partition() or 0, msg.offset() or 0, timestamp)


def _kafka_exception(exc: BaseException) -> KafkaException | None:
    """The KafkaException behind ``exc``: confluent-kafka raises fatal errors (e.g. fenced)
    from inside its callback dispatch, where they surface as a SystemError chained to it."""
    if isinstance(exc, KafkaException):
        return exc
    if isinstance(exc.__cause__, KafkaException):
        return exc.__cause__
    return None


def _delivery_error(err: KafkaError, msg: Message, limit: int) -> StromError:
    topic, partition = msg.topic(), msg.partition()
    if err.code() in TOO_LARGE:
        size = len(msg.value() or b"") + len(msg.key() or b"")
        return RecordTooLargeError(
            f"record of {size} bytes to topic {topic!r} partition {partition} was refused by "
            f"the broker: it exceeds the topic's max.message.bytes (or the broker's "
            f"message.max.bytes); the producer's limit is {limit} bytes ({err.str()})"
        )
    return translate(err, "deliver record", topic=topic, partition=partition)


class KafkaProducer:
    """:class:`strom.log.Producer` for Kafka (idempotent, ``acks=all`` by default).

    Example:
        >>> import strom.log
        >>> producer = strom.log.connect("kafka://127.0.0.1:9092").producer()  # doctest: +SKIP
        >>> producer.send("orders", b'{"id": 1}', key=b"customer-7")  # doctest: +SKIP
        >>> producer.flush()  # doctest: +SKIP
    """

    def __init__(
        self,
        bootstrap: str,
        config: dict[str, Any],
        reach: Reachability,
        *,
        transactional_id: str | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._reach = reach
        self._transactional_id = transactional_id
        self._errors = ClientErrors(bootstrap, "producer")
        self._limit = message_max_bytes(config)
        self._producer = create_client(
            ConfluentProducer, with_error_cb(config, self._errors.on_error), "producer"
        )
        self._partitions: dict[str, int] = {}
        self._failures: list[StromError] = []
        self._txn_failed = False
        self._closed = False

    # --- sending ------------------------------------------------------------------------------

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(_delivery_error(err, msg, self._limit))

    def _callback(self, user: DeliveryCallback) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                user(_metadata_of(msg), None)
                return
            error = _delivery_error(err, msg, self._limit)
            self._failures.append(error)
            user(None, error)

        return on_delivery

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
        """Queue one record (see :meth:`strom.log.Producer.send`).

        Raises:
            RecordTooLargeError: key + value + headers exceed ``message.max.bytes``.
            TopicNotFoundError: the topic (or the given partition) does not exist.
            BrokerUnavailableError: the broker cannot be reached.
        """
        if self._closed:
            raise BrokerError(f"send to topic {topic!r} failed: the producer is closed")
        count = self._partitions.get(topic)
        if count is None:
            count = self.partitions_for(topic, timeout=_METADATA_TIMEOUT)
        if partition is not None and not 0 <= partition < count:
            # Partitions may have been added since the count was cached: ask once more.
            count = self.partitions_for(topic, timeout=_METADATA_TIMEOUT)
        if partition is not None and not 0 <= partition < count:
            raise TopicNotFoundError(
                f"send to topic {topic!r} failed: partition {partition} does not exist "
                f"(the topic has {count} partitions)"
            )
        callback = self._callback(on_delivery) if on_delivery is not None else self._on_delivery
        hdrs = normalize_headers(headers) if headers else ()
        kwargs: dict[str, Any] | None = None
        if partition is not None or timestamp is not None or hdrs:
            kwargs = {}
            if partition is not None:
                kwargs["partition"] = partition
            if timestamp is not None:
                kwargs["timestamp"] = timestamp
            if hdrs:
                kwargs["headers"] = list(hdrs)
        produce = self._producer.produce
        deadline = 0.0
        while True:
            try:
                # librdkafka checks message.max.bytes itself (mapped below), so the common
                # case costs one C call.
                if kwargs is None:
                    produce(topic, value, key, on_delivery=callback)
                else:
                    produce(topic, value, key, on_delivery=callback, **kwargs)
                return
            except BufferError:
                # librdkafka's queue is full: serve deliveries to make room, within bounds.
                if not deadline:
                    deadline = time.monotonic() + _QUEUE_FULL_WAIT
                elif time.monotonic() >= deadline:
                    raise BrokerError(
                        f"send to topic {topic!r} failed: the producer queue stayed full for "
                        f"{_QUEUE_FULL_WAIT:g} s; the broker at {self._bootstrap} is not "
                        "keeping up or unreachable"
                    ) from None
                self._serve(self._producer.poll, _STEP, f"send to topic {topic!r}")
            except KafkaException as exc:
                err = kafka_error(exc)
                if err is not None and err.code() in TOO_LARGE:
                    size = (
                        len(value or b"") + len(key or b"") + sum(len(n) + len(v) for n, v in hdrs)
                    )
                    raise RecordTooLargeError(
                        f"record of {size} bytes (key + value + headers) for topic {topic!r} "
                        f"exceeds the producer's limit of {self._limit} bytes "
                        "(message.max.bytes); split the value or raise message.max.bytes "
                        "together with the topic's max.message.bytes"
                    ) from None
                raise translate(
                    exc, "send", topic=topic, partition=partition, bootstrap=self._bootstrap
                ) from None

    def _serve(self, call: Callable[[float], int | None], timeout: float, action: str) -> int:
        """Run ``poll``/``flush``, which serve callbacks; fatal errors become strom errors."""
        try:
            return call(timeout) or 0
        except (KafkaException, SystemError) as exc:
            cause = _kafka_exception(exc)
            if cause is None:
                raise
            self._txn_failed = self._transactional_id is not None
            raise translate(
                cause,
                action,
                bootstrap=self._bootstrap,
                transactional=self._transactional_id is not None,
            ) from None

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery callbacks for at most ``timeout`` seconds."""
        self._serve(self._producer.poll, timeout, "poll")

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued record is delivered or failed.

        Raises:
            DeliveryError: a record was not stored; names the first failure since the last
                flush (its topic, partition and error). The full error is the ``__cause__``.
            FlushTimeoutError: records were still queued when ``timeout`` ran out.
        """
        if self._closed:
            return
        deadline = time.monotonic() + timeout
        # flush(0) serves pending callbacks and events first: librdkafka counts them as queued.
        remaining = self._serve(self._producer.flush, 0, "flush")
        if remaining and not self._reach.reached:
            self._reach.ensure("flush", timeout)
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0:
                self._errors.raise_fatal("flush")
                raise FlushTimeoutError(
                    f"flush timed out after {timeout:g} s with {remaining} records not yet "
                    f"acknowledged by the broker at {self._bootstrap}; they are retried until "
                    "message.timeout.ms"
                )
            remaining = self._serve(self._producer.flush, min(left, 1.0), "flush")
        self._raise_failures()

    def _raise_failures(self) -> None:
        if not self._failures:
            return
        first, count = self._failures[0], len(self._failures)
        self._failures.clear()
        raise DeliveryError(f"{count} record(s) not delivered; first: {first}") from first

    @property
    def survived_errors(self) -> dict[str, int]:
        """How many errors this producer went on after, by librdkafka error name."""
        return dict(self._errors.survived)

    def partitions_for(self, topic: str, *, timeout: float = 30.0) -> int:
        """Number of partitions of ``topic`` (from the broker; cached per producer)."""
        action = f"look up topic {topic!r}"
        self._reach.ensure(action, timeout)
        count = partition_count(
            self._producer, topic, action, bootstrap=self._bootstrap, timeout=timeout
        )
        self._partitions[topic] = count
        return count

    # --- transactions -------------------------------------------------------------------------

    def _transactional(self, action: str, call: Callable[[], object]) -> None:
        if self._transactional_id is None:
            raise TransactionError(
                f"{action} failed: this producer has no transactional_id; open it with "
                "log.producer(transactional_id=...)"
            )
        try:
            call()
        except (KafkaException, SystemError) as exc:
            cause = _kafka_exception(exc)
            if cause is None:
                raise
            self._txn_failed = True
            raise translate(cause, action, bootstrap=self._bootstrap, transactional=True) from None
        self._txn_failed = False

    def init_transactions(self, timeout: float = 30.0) -> None:
        """Register the transactional id, fencing older producers with the same id."""
        self._reach.ensure("init transactions", timeout)
        self._transactional("init transactions", lambda: self._producer.init_transactions(timeout))

    def begin_transaction(self) -> None:
        """Start a transaction."""
        self._transactional("begin transaction", self._producer.begin_transaction)

    def send_offsets_to_transaction(
        self,
        offsets: Mapping[TopicPartition, int],
        group_metadata: Any,
        timeout: float = 30.0,
    ) -> None:
        """Commit consumer offsets (next offset to read) as part of the transaction."""
        parts = [KafkaTopicPartition(t, p, off) for (t, p), off in offsets.items()]
        self._transactional(
            "send offsets to transaction",
            lambda: self._producer.send_offsets_to_transaction(parts, group_metadata, timeout),
        )

    def commit_transaction(self, timeout: float = 30.0) -> None:
        """Flush and commit: the records and offsets become visible atomically."""
        self._transactional(
            "commit transaction", lambda: self._producer.commit_transaction(timeout)
        )
        self._raise_failures()

    def abort_transaction(self, timeout: float = 30.0) -> None:
        """Discard the transaction's records and offsets."""
        self._transactional("abort transaction", lambda: self._producer.abort_transaction(timeout))
        self._failures.clear()

    def close(self, timeout: float = 30.0) -> None:
        """Flush and release resources (idempotent).

        Raises:
            DeliveryError, BrokerError: as :meth:`flush`; records still queued after
                ``timeout`` are dropped.
        """
        if self._closed:
            return
        try:
            if not self._txn_failed:  # a failed (e.g. fenced) producer has nothing to flush
                self.flush(timeout)
        finally:
            self._closed = True
            if len(self._producer):
                # Do not let librdkafka's close wait for records that flush gave up on.
                self._producer.purge()
                with contextlib.suppress(KafkaException, SystemError):
                    self._producer.poll(0)
            with warnings.catch_warnings():
                if self._txn_failed:
                    # confluent warns that it could not abort a transaction that already
                    # failed (e.g. fenced); the caller has seen that error.
                    warnings.simplefilter("ignore", RuntimeWarning)
                self._producer.close()
