"""Failure bookkeeping for the processing loop: attempts per record, retry waits per partition.

The runtime calls a :class:`FailureTracker` when a step (or the deserializer) raises on a
record; the tracker asks the :class:`~strom.error_policies.ErrorHandler` what to do, carries
out the parts that need no consumer (dead-letter write, metrics, log line) and tells the loop
the rest through the returned :class:`~strom.error_policies.ErrorResponse`:

* ``RETRY``: the loop drops the rest of that partition's batch, seeks the partition back to
  the failed record, and pauses it; :meth:`FailureTracker.due` says when to resume it. Other
  partitions keep flowing, and the loop keeps polling (so group membership stays alive).
  When the record comes back, the attempt count continues where it was.
* ``SKIP`` / ``DEAD_LETTER``: the record counts as processed; its offset may be committed
  (after the producer flush that stores the dead-letter record).
* ``FAIL``: the loop raises :meth:`FailureTracker.stop_error` without committing the record's
  offset, so the application restarts at this record.

Example:
    >>> import strom.errors as errors
    >>> from strom.log import Record, TopicPartition
    >>> now = [1_000]
    >>> tracker = FailureTracker(
    ...     errors.ErrorHandler(default=errors.retry(2, initial=0.5, jitter=0, then=errors.skip())),
    ...     clock=lambda: now[0],
    ... )
    >>> record = Record("orders", 0, 7, None, b"x", 0)
    >>> tracker.failed(record, "price", ValueError("flaky")).action.value
    'retry'
    >>> tracker.due(), tracker.next_due_ms()
    ([], 1500)
    >>> now[0] = 1_500
    >>> tracker.due()
    [TopicPartition(topic='orders', partition=0)]
    >>> tracker.failed(record, "price", ValueError("flaky")).action.value
    'skip'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from strom.dead_letter import DeadLetterWriter, error_type_name
from strom.error_policies import Action, Clock, ErrorHandler, ErrorResponse, system_clock_ms
from strom.errors import ConfigError, ProcessingError
from strom.log.types import Record, TopicPartition
from strom.ops.metrics import Metrics

_log = logging.getLogger("strom.runtime.errors")


@dataclass(slots=True)
class _Attempts:
    step: str
    count: int
    first_ms: int
    last_ms: int


class FailureTracker:
    """Attempt counts of failing records and retry waits of paused partitions.

    Args:
        handler: the error policies (app-wide default and per-step overrides).
        dead_letters: the writer for ``dead_letter`` policies (required when one is used).
        metrics: where to count errors, retries, skips and dead letters (optional).
        clock: epoch ms now; injected so tests control time.
        app: the application's name, added to every log line as ``app``.
    """

    def __init__(
        self,
        handler: ErrorHandler,
        *,
        dead_letters: DeadLetterWriter | None = None,
        metrics: Metrics | None = None,
        clock: Clock = system_clock_ms,
        app: str | None = None,
    ) -> None:
        topics = handler.dead_letter_topics()
        if topics and dead_letters is None:
            raise ConfigError(
                f"error policies write to dead-letter topics {topics} but no dead-letter "
                "writer was given"
            )
        self._handler = handler
        self._writer = dead_letters
        self._metrics = metrics
        self._clock = clock
        self._context: dict[str, str] = {"app": app} if app is not None else {}
        self._attempts: dict[tuple[str, int, int], _Attempts] = {}
        self._waiting: dict[TopicPartition, int] = {}

    @property
    def dead_letters(self) -> DeadLetterWriter | None:
        """The dead-letter writer (None when no policy writes dead letters)."""
        return self._writer

    def failed(self, record: Record, step: str, error: BaseException) -> ErrorResponse:
        """``step`` raised ``error`` on ``record``: decide, count, log, and dead-letter if told.

        Returns:
            The handler's response; for RETRY the partition is now waiting (see :meth:`due`).
        """
        key = (record.topic, record.partition, record.offset)
        now = self._clock()
        attempts = self._attempts.get(key)
        if attempts is None or attempts.step != step:
            attempts = _Attempts(step, 0, now, now)
        attempts.count += 1
        attempts.last_ms = now
        response = self._handler.decide(
            error, step=step, attempt=attempts.count, first_failure_ms=attempts.first_ms
        )
        error_type = error_type_name(error)
        where = f"{record.topic}/{record.partition}@{record.offset}"
        extra = {
            **self._context,
            "step": step,
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
        }
        step_metrics = self._metrics.step(step) if self._metrics is not None else None
        if step_metrics is not None:
            step_metrics.failed(error_type)
        if response.action is Action.RETRY:
            self._attempts[key] = attempts
            self._waiting[record.topic_partition] = now + response.delay_ms
            if step_metrics is not None:
                step_metrics.retried()
            _log.warning(
                "step %r failed on %s (%s: %s); %s, retrying in %d ms",
                step,
                where,
                error_type,
                error,
                response.reason,
                response.delay_ms,
                extra=extra,
            )
            return response
        self._attempts.pop(key, None)
        if response.action is Action.DEAD_LETTER:
            assert response.topic is not None and self._writer is not None  # checked in __init__
            self._writer.send(
                response.topic,
                record,
                error,
                step=step,
                attempts=attempts.count,
                first_failure_ms=attempts.first_ms,
                last_failure_ms=attempts.last_ms,
            )
            if step_metrics is not None:
                step_metrics.dead_lettered(response.topic)
            _log.warning(
                "step %r failed on %s (%s: %s); %s, sent to dead-letter topic %r",
                step,
                where,
                error_type,
                error,
                response.reason,
                response.topic,
                extra=extra,
            )
        elif response.action is Action.SKIP:
            if step_metrics is not None:
                step_metrics.skipped()
            _log.warning(
                "step %r failed on %s (%s: %s); %s, record skipped",
                step,
                where,
                error_type,
                error,
                response.reason,
                extra=extra,
            )
        else:
            _log.error(
                "step %r failed on %s (%s: %s); %s, stopping",
                step,
                where,
                error_type,
                error,
                response.reason,
                extra=extra,
            )
        return response

    def attempts(self, record: Record) -> int:
        """Failed attempts so far of ``record`` while it is being retried (0 otherwise)."""
        pending = self._attempts.get((record.topic, record.partition, record.offset))
        return 0 if pending is None else pending.count

    def succeeded(self, record: Record) -> None:
        """``record`` went through after failing before: forget its attempts. Cheap when
        nothing is being retried, so the loop may call it for every record it retried."""
        if self._attempts:
            self._attempts.pop((record.topic, record.partition, record.offset), None)

    @property
    def pending(self) -> bool:
        """True while some record is between a failed attempt and its outcome."""
        return bool(self._attempts)

    def settle(self, next_offsets: Mapping[TopicPartition, int]) -> None:
        """Forget the attempts of records that went through: their partition is not waiting
        and its next offset to process (``next_offsets``) is past them."""
        for key in list(self._attempts):
            tp = TopicPartition(key[0], key[1])
            if tp not in self._waiting and next_offsets.get(tp, -1) > key[2]:
                del self._attempts[key]

    def due(self) -> list[TopicPartition]:
        """Partitions whose retry wait is over (now no longer waiting): resume them."""
        if not self._waiting:
            return []
        now = self._clock()
        ready = sorted(tp for tp, at in self._waiting.items() if at <= now)
        for tp in ready:
            del self._waiting[tp]
        return ready

    def waiting(self) -> dict[TopicPartition, int]:
        """Paused partitions and the epoch ms at which each may resume."""
        return dict(self._waiting)

    def next_due_ms(self) -> int | None:
        """The earliest resume time, to bound the loop's poll timeout; None when none waits."""
        return min(self._waiting.values()) if self._waiting else None

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions were revoked: drop their waits and attempt counts (a new owner starts
        counting afresh)."""
        gone = set(partitions)
        for tp in gone:
            self._waiting.pop(tp, None)
        for key in [k for k in self._attempts if TopicPartition(k[0], k[1]) in gone]:
            del self._attempts[key]

    def stop_error(self, record: Record, step: str, error: BaseException) -> ProcessingError:
        """The error to raise for a FAIL response (chain it: ``raise ... from error``)."""
        return ProcessingError(
            f"step {step!r} failed on {record.topic}/{record.partition}@{record.offset} with "
            f"{error_type_name(error)}: {error}. The application stopped; nothing at or past "
            f"offset {record.offset} of {record.topic}/{record.partition} was committed, so a "
            "restart begins with this record. Fix the cause, or give the step "
            "on_error=strom.errors.skip() or strom.errors.dead_letter(TOPIC)",
            step=step,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
