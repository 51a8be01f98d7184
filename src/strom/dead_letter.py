"""Dead-letter records: the failed record, byte for byte, plus headers saying what failed.

A dead-letter record keeps the original key and value bytes unchanged and the original headers
in their order, then appends these headers (values are UTF-8 text; numbers in decimal):

===============================  ================================================================
header                           value
===============================  ================================================================
``strom.error.type``             exception class, qualified (``ValueError``,
                                 ``strom.errors.SerializationError``, ``mypkg.mod.MyError``)
``strom.error.message``          ``str(exception)``, cut to 4 KiB
``strom.error.step``             step name (``deserialize:<topic>`` for decoding failures)
``strom.error.attempts``         attempts made, the first one included
``strom.error.first_failure_ms`` epoch ms of the first failed attempt
``strom.error.last_failure_ms``  epoch ms of the last failed attempt
``strom.error.app``              application id (only when known)
``strom.error.traceback``        the formatted traceback, cut to 8 KiB (only when given)
``strom.source.topic``           topic the record was read from
``strom.source.partition``       its partition
``strom.source.offset``          its offset
``strom.source.timestamp``       its timestamp (epoch ms)
===============================  ================================================================

Headers of these two namespaces already on the original (a record that failed before) are
replaced, so a dead-letter record always describes one failure. The dead-letter record's own
timestamp is the time it is written (so topic retention counts from the failure); the original
timestamp travels in ``strom.source.timestamp`` and is restored on replay.

On replay (:func:`replay_headers`) both namespaces are stripped and ``strom.replayed_from``
(``<dlq topic>/<partition>/<offset>``) is added.

Example:
    >>> from strom.log import Record
    >>> original = Record("orders", 2, 41, b"k", b"{bad", 1_700_000_000_000, (("trace", b"t1"),))
    >>> failure = Failure.from_exception(
    ...     ValueError("bad json"), step="parse", attempts=1, first_failure_ms=5, last_failure_ms=5
    ... )
    >>> headers = build_headers(original, failure)
    >>> headers[0], headers[1]
    (('trace', b't1'), ('strom.error.type', b'ValueError'))
    >>> dlq = Record("orders-dlq", 0, 0, original.key, original.value, 9, headers)
    >>> parsed = parse(dlq)
    >>> parsed.source
    SourcePosition(topic='orders', partition=2, offset=41, timestamp=1700000000000)
    >>> parsed.failure.step, parsed.original_headers
    ('parse', (('trace', b't1'),))
"""

from __future__ import annotations

import traceback as _traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from strom.error_policies import Clock, system_clock_ms
from strom.errors import ConfigError, DeliveryError, TopicExistsError
from strom.log.protocols import Admin, Producer
from strom.log.types import Headers, Record, RecordMetadata, TopicSpec

ERROR_PREFIX = "strom.error."
SOURCE_PREFIX = "strom.source."

ERROR_TYPE = "strom.error.type"
ERROR_MESSAGE = "strom.error.message"
ERROR_STEP = "strom.error.step"
ERROR_ATTEMPTS = "strom.error.attempts"
ERROR_FIRST_FAILURE = "strom.error.first_failure_ms"
ERROR_LAST_FAILURE = "strom.error.last_failure_ms"
ERROR_APP = "strom.error.app"
ERROR_TRACEBACK = "strom.error.traceback"
SOURCE_TOPIC = "strom.source.topic"
SOURCE_PARTITION = "strom.source.partition"
SOURCE_OFFSET = "strom.source.offset"
SOURCE_TIMESTAMP = "strom.source.timestamp"
REPLAYED_FROM = "strom.replayed_from"

MAX_MESSAGE_BYTES = 4096
MAX_TRACEBACK_BYTES = 8192


def _cut(text: str, limit: int) -> bytes:
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return data
    # Cut on a character boundary so the header stays valid UTF-8.
    return data[: limit - 3].decode("utf-8", "ignore").encode() + b"..."


def error_type_name(error: BaseException) -> str:
    """The qualified class name of ``error`` (builtins unqualified).

    Example:
        >>> error_type_name(KeyError("x"))
        'KeyError'
        >>> error_type_name(ConfigError("x"))
        'strom.errors.ConfigError'
    """
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class SourcePosition(NamedTuple):
    """Where the failed record was read: topic, partition, offset and its timestamp."""

    topic: str
    partition: int
    offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Failure:
    """What failed, where and how often.

    Attributes:
        error_type: qualified exception class name (see :func:`error_type_name`).
        message: the exception's message.
        step: step name.
        attempts: attempts made, the first one included.
        first_failure_ms: epoch ms of the first failed attempt.
        last_failure_ms: epoch ms of the last failed attempt.
        app: application id, when known.
        traceback: formatted traceback, when recorded.
    """

    error_type: str
    message: str
    step: str
    attempts: int
    first_failure_ms: int
    last_failure_ms: int
    app: str | None = None
    traceback: str | None = None

    @classmethod
    def from_exception(
        cls,
        error: BaseException,
        *,
        step: str,
        attempts: int,
        first_failure_ms: int,
        last_failure_ms: int,
        app: str | None = None,
        with_traceback: bool = False,
    ) -> Failure:
        """Describe ``error``; ``with_traceback`` records its formatted traceback too."""
        trace = "".join(_traceback.format_exception(error)) if with_traceback else None
        return cls(
            error_type=error_type_name(error),
            message=str(error),
            step=step,
            attempts=attempts,
            first_failure_ms=first_failure_ms,
            last_failure_ms=last_failure_ms,
            app=app,
            traceback=trace,
        )

    def error_type_matches(self, name: str) -> bool:
        """True when ``name`` is the qualified type or its last part (``ValueError`` matches
        ``ValueError``, ``SerializationError`` matches ``strom.errors.SerializationError``)."""
        return name == self.error_type or self.error_type.rsplit(".", 1)[-1] == name


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A parsed dead-letter record.

    Attributes:
        record: the dead-letter record as read from the dead-letter topic.
        source: where the original was read.
        failure: what failed.
        original_headers: the original record's headers (strom's own stripped).
    """

    record: Record
    source: SourcePosition
    failure: Failure
    original_headers: Headers

    @property
    def key(self) -> bytes | None:
        """The original key bytes."""
        return self.record.key

    @property
    def value(self) -> bytes | None:
        """The original value bytes."""
        return self.record.value


def is_strom_header(name: str) -> bool:
    """True for the headers strom adds to dead-letter and replayed records."""
    return name.startswith((ERROR_PREFIX, SOURCE_PREFIX)) or name == REPLAYED_FROM


def build_headers(original: Record, failure: Failure) -> Headers:
    """The dead-letter headers: ``original``'s own (minus earlier strom error headers), then
    the ``strom.error.*`` and ``strom.source.*`` headers."""
    kept = tuple(
        (k, v) for k, v in original.headers if not k.startswith((ERROR_PREFIX, SOURCE_PREFIX))
    )
    added: list[tuple[str, bytes]] = [
        (ERROR_TYPE, failure.error_type.encode()),
        (ERROR_MESSAGE, _cut(failure.message, MAX_MESSAGE_BYTES)),
        (ERROR_STEP, failure.step.encode()),
        (ERROR_ATTEMPTS, str(failure.attempts).encode()),
        (ERROR_FIRST_FAILURE, str(failure.first_failure_ms).encode()),
        (ERROR_LAST_FAILURE, str(failure.last_failure_ms).encode()),
    ]
    if failure.app is not None:
        added.append((ERROR_APP, failure.app.encode()))
    if failure.traceback is not None:
        added.append((ERROR_TRACEBACK, _cut(failure.traceback, MAX_TRACEBACK_BYTES)))
    added += [
        (SOURCE_TOPIC, original.topic.encode()),
        (SOURCE_PARTITION, str(original.partition).encode()),
        (SOURCE_OFFSET, str(original.offset).encode()),
        (SOURCE_TIMESTAMP, str(original.timestamp).encode()),
    ]
    return kept + tuple(added)


def is_dead_letter(record: Record) -> bool:
    """True when ``record`` carries strom's dead-letter headers."""
    return record.header(ERROR_TYPE) is not None and record.header(SOURCE_TOPIC) is not None


def parse(record: Record) -> DeadLetter:
    """Read the failure and source position back from a dead-letter record.

    Raises:
        ConfigError: a header is missing or malformed (the record was not written by strom's
            dead-letter writer); the message names the record's topic/partition/offset.
    """
    where = f"{record.topic}/{record.partition}@{record.offset}"

    def text(name: str) -> str:
        raw = record.header(name)
        if raw is None:
            raise ConfigError(
                f"record {where} is not a strom dead-letter record: header {name!r} is missing"
            )
        return raw.decode("utf-8", "replace")

    def number(name: str) -> int:
        raw = text(name)
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(
                f"dead-letter record {where}: header {name!r} is {raw!r}, not an integer"
            ) from None

    optional_app = record.header(ERROR_APP)
    optional_trace = record.header(ERROR_TRACEBACK)
    failure = Failure(
        error_type=text(ERROR_TYPE),
        message=text(ERROR_MESSAGE),
        step=text(ERROR_STEP),
        attempts=number(ERROR_ATTEMPTS),
        first_failure_ms=number(ERROR_FIRST_FAILURE),
        last_failure_ms=number(ERROR_LAST_FAILURE),
        app=optional_app.decode("utf-8", "replace") if optional_app is not None else None,
        traceback=optional_trace.decode("utf-8", "replace") if optional_trace else None,
    )
    source = SourcePosition(
        text(SOURCE_TOPIC),
        number(SOURCE_PARTITION),
        number(SOURCE_OFFSET),
        number(SOURCE_TIMESTAMP),
    )
    original = tuple(
        (k, v) for k, v in record.headers if not k.startswith((ERROR_PREFIX, SOURCE_PREFIX))
    )
    return DeadLetter(record=record, source=source, failure=failure, original_headers=original)


def try_parse(record: Record) -> DeadLetter | None:
    """:func:`parse` for records that may not be dead-letter records: None when ``record``
    lacks strom's headers or carries malformed ones."""
    if not is_dead_letter(record):
        return None
    try:
        return parse(record)
    except ConfigError:
        return None


def replay_headers(dead: DeadLetter) -> Headers:
    """Headers for re-injecting ``dead``: the originals (without any earlier
    ``strom.replayed_from``) plus ``strom.replayed_from = <dlq topic>/<partition>/<offset>``."""
    kept = tuple((k, v) for k, v in dead.original_headers if k != REPLAYED_FROM)
    origin = f"{dead.record.topic}/{dead.record.partition}/{dead.record.offset}"
    return (*kept, (REPLAYED_FROM, origin.encode()))


class DeadLetterWriter:
    """Sends failed records to dead-letter topics through a :class:`~strom.log.Producer`.

    Sends are asynchronous like every produce: the caller flushes the producer before it
    commits the failed record's offset (the runtime's checkpoint does), so a dead-letter
    record is stored before its source offset is committed. Delivery failures surface from
    ``producer.flush()`` as :class:`~strom.errors.DeliveryError`, and from :meth:`check`.

    Args:
        producer: the producer to send with (the runtime's own, so an exactly-once
            transaction covers dead-letter records too).
        app: application id written to ``strom.error.app``.
        with_traceback: also write ``strom.error.traceback``.
        clock: epoch ms now (the dead-letter record's timestamp).
    """

    def __init__(
        self,
        producer: Producer,
        *,
        app: str | None = None,
        with_traceback: bool = True,
        clock: Clock = system_clock_ms,
    ) -> None:
        self._producer = producer
        self._app = app
        self._with_traceback = with_traceback
        self._clock = clock
        self._failed: Exception | None = None
        self.sent = 0
        """Records queued so far."""
        self.delivered = 0
        """Records the log acknowledged so far."""

    def use(self, producer: Producer) -> None:
        """Send with ``producer`` from now on."""
        self._producer = producer

    def send(
        self,
        topic: str,
        record: Record,
        error: BaseException,
        *,
        step: str,
        attempts: int,
        first_failure_ms: int,
        last_failure_ms: int | None = None,
        on_delivery: Callable[[RecordMetadata | None, Exception | None], None] | None = None,
    ) -> None:
        """Queue the dead-letter record for ``record`` failing in ``step`` with ``error``."""
        now = self._clock()
        failure = Failure.from_exception(
            error,
            step=step,
            attempts=attempts,
            first_failure_ms=first_failure_ms,
            last_failure_ms=now if last_failure_ms is None else last_failure_ms,
            app=self._app,
            with_traceback=self._with_traceback,
        )
        self.send_failure(topic, record, failure, on_delivery=on_delivery)

    def send_failure(
        self,
        topic: str,
        record: Record,
        failure: Failure,
        *,
        on_delivery: Callable[[RecordMetadata | None, Exception | None], None] | None = None,
    ) -> None:
        """Queue the dead-letter record for ``record`` described by ``failure``."""

        def delivered(meta: RecordMetadata | None, exc: Exception | None) -> None:
            if exc is None:
                self.delivered += 1
            elif self._failed is None:
                self._failed = exc
            if on_delivery is not None:
                on_delivery(meta, exc)

        self._producer.send(
            topic,
            record.value,
            record.key,
            timestamp=self._clock(),
            headers=build_headers(record, failure),
            on_delivery=delivered,
        )
        self.sent += 1

    def check(self) -> None:
        """Raise :class:`~strom.errors.DeliveryError` if a dead-letter record was refused."""
        if self._failed is not None:
            raise DeliveryError(
                f"a dead-letter record was not stored: {self._failed}; the failed source "
                "record's offset must not be committed — fix the dead-letter topic (does it "
                "exist? is it writable?) and restart"
            ) from self._failed


def ensure_topics(admin: Admin, topics: Sequence[str], *, partitions: int = 1) -> list[str]:
    """Create those of ``topics`` that do not exist yet; returns the names created.

    Dead-letter topics are written rarely and read by people: one partition is the default.
    A topic created meanwhile by someone else is fine.
    """
    existing = set(admin.list_topics())
    missing = [t for t in dict.fromkeys(topics) if t not in existing]
    created: list[str] = []
    for name in missing:
        try:
            admin.create_topics([TopicSpec(name, partitions=partitions)])
        except TopicExistsError:
            continue
        created.append(name)
    return created
