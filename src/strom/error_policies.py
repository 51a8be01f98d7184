"""Error policies: what a step does when processing (or decoding) a record fails.

A policy is an immutable value chosen by the user, per step (``on_error=``) or app-wide. At run
time an :class:`ErrorHandler` turns (exception, step, attempt count, first failure time) into an
:class:`ErrorResponse` — the Kafka Streams shape: the handler *returns a response*, the runtime
carries it out.

=====================  ==========================================================================
policy                 on a failure
=====================  ==========================================================================
:func:`fail`           stop the application; nothing past the record is committed (the default)
:func:`skip`           drop the record, count it, go on
:func:`dead_letter`    write the record, byte for byte, to a dead-letter topic, go on
:func:`retry`          retry with exponential backoff; when retries run out, fall back to
                       ``then`` (fail unless told otherwise)
=====================  ==========================================================================

Every terminal policy takes ``retry=`` too: ``dead_letter("orders-dlq", retry=backoff(5))``
retries up to 5 attempts, then dead-letters.

Rules the handler applies, in order:

1. a :class:`~strom.errors.SerializationError` is never retried — decoding the same bytes again
   gives the same result; it goes straight to the terminal action;
2. an exception that is not an instance of the backoff's ``retry_on`` types is not retried;
3. after ``max_attempts`` attempts in total (the first one included), or when the next attempt
   would start later than ``max_elapsed`` after the first failure, retries stop;
4. otherwise: retry after ``min(max_delay, initial * multiplier ** (attempt - 1))``, shortened by
   up to ``jitter`` (a fraction) at random, so partitions that fail together do not retry in step.

Deserialization failures go through the same handler under the step name
``deserialize:<topic>`` (see :func:`deserialize_step`).

Example:
    >>> import strom.errors as errors
    >>> handler = errors.ErrorHandler(
    ...     default=errors.fail(),
    ...     steps={"price": errors.dead_letter("orders-dlq", retry=errors.backoff(3, jitter=0))},
    ...     clock=lambda: 1_000,
    ... )
    >>> response = handler.decide(ValueError("x"), step="price", attempt=1, first_failure_ms=1000)
    >>> response.action, response.delay_ms
    (<Action.RETRY: 'retry'>, 100)
    >>> handler.decide(ValueError("bad"), step="price", attempt=3, first_failure_ms=1_000).action
    <Action.DEAD_LETTER: 'dead_letter'>
    >>> handler.decide(ValueError("bad"), step="other", attempt=1, first_failure_ms=1_000).action
    <Action.FAIL: 'fail'>
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum

from strom.errors import ConfigError, SerializationError

__all__ = [
    "Action",
    "Backoff",
    "Duration",
    "ErrorHandler",
    "ErrorPolicy",
    "ErrorResponse",
    "backoff",
    "dead_letter",
    "deserialize_step",
    "fail",
    "retry",
    "skip",
]

Duration = float | int | timedelta
"""A duration given by the user: seconds as a number, or a :class:`~datetime.timedelta`."""

Clock = Callable[[], int]
"""Current time as integer epoch milliseconds."""

DESERIALIZE_STEP_PREFIX = "deserialize:"


def system_clock_ms() -> int:
    """Wall-clock time in integer epoch milliseconds."""
    return time.time_ns() // 1_000_000


def deserialize_step(topic: str) -> str:
    """The step name under which decoding failures of ``topic`` are handled.

    Example:
        >>> deserialize_step("orders")
        'deserialize:orders'
    """
    return DESERIALIZE_STEP_PREFIX + topic


def _to_ms(value: Duration | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        ms = value // timedelta(milliseconds=1)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        ms = round(value * 1000)
    else:
        raise ConfigError(f"{what} must be seconds (a number) or a timedelta, got {value!r}")
    if ms < 0:
        raise ConfigError(f"{what} must not be negative, got {value!r}")
    return int(ms)


class Action(Enum):
    """What the runtime does with a failed record."""

    SKIP = "skip"
    """Drop the record (counted) and continue; its offset is committed as processed."""
    FAIL = "fail"
    """Stop the application; the failed record's offset is not committed."""
    RETRY = "retry"
    """Run the step on the record again after ``delay_ms``; its partition waits, paused."""
    DEAD_LETTER = "dead_letter"
    """Write the record to the dead-letter ``topic`` and continue."""


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """The handler's answer for one failure.

    Attributes:
        action: what to do.
        delay_ms: for :attr:`Action.RETRY`, how long to wait before the next attempt.
        topic: for :attr:`Action.DEAD_LETTER`, the dead-letter topic.
        reason: why this action, for logs and error messages.
    """

    action: Action
    delay_ms: int = 0
    topic: str | None = None
    reason: str = ""

    @property
    def terminal(self) -> bool:
        """True unless the record will be tried again."""
        return self.action is not Action.RETRY


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff settings; build one with :func:`backoff`.

    Attributes:
        max_attempts: attempts in total, the first one included (1 = never retry).
        initial_ms: the delay before the second attempt.
        multiplier: each further delay is this many times the previous one.
        max_delay_ms: no single delay is longer.
        max_elapsed_ms: no attempt starts later than this after the first failure (None = no
            limit).
        jitter: fraction (0..1) by which each delay is shortened at random.
        retry_on: exception types worth retrying; others go straight to the terminal action.
    """

    max_attempts: int = 5
    initial_ms: int = 100
    multiplier: float = 2.0
    max_delay_ms: int = 30_000
    max_elapsed_ms: int | None = None
    jitter: float = 0.2
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"backoff max_attempts must be >= 1, got {self.max_attempts}")
        if self.multiplier < 1.0:
            raise ConfigError(f"backoff multiplier must be >= 1.0, got {self.multiplier}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ConfigError(f"backoff jitter must be within 0..1, got {self.jitter}")
        if self.max_delay_ms < self.initial_ms:
            raise ConfigError(
                f"backoff max_delay ({self.max_delay_ms} ms) is shorter than initial "
                f"({self.initial_ms} ms)"
            )
        if not self.retry_on or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in self.retry_on
        ):
            raise ConfigError(f"backoff retry_on must name exception types, got {self.retry_on!r}")

    def delay_ms(self, attempt: int, rand: float) -> int:
        """The wait after failed attempt number ``attempt`` (1-based), ``rand`` in [0, 1).

        Example:
            >>> Backoff(initial_ms=100, multiplier=2, jitter=0.5).delay_ms(3, rand=0.0)
            400
            >>> Backoff(initial_ms=100, multiplier=2, jitter=0.5).delay_ms(3, rand=1.0)
            200
        """
        base = min(float(self.max_delay_ms), self.initial_ms * self.multiplier ** (attempt - 1))
        return int(base * (1.0 - self.jitter * rand))


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    """What a step does when it fails; build one with :func:`fail`, :func:`skip`,
    :func:`dead_letter` or :func:`retry`.

    Attributes:
        action: the terminal action (never :attr:`Action.RETRY`).
        topic: the dead-letter topic for :attr:`Action.DEAD_LETTER`.
        retry: backoff applied before the terminal action, or None.
    """

    action: Action
    topic: str | None = None
    retry: Backoff | None = None

    def __post_init__(self) -> None:
        if self.action is Action.RETRY:
            raise ConfigError("an error policy's action is terminal: use retry(..., then=...)")
        if self.action is Action.DEAD_LETTER and not self.topic:
            raise ConfigError("dead_letter() needs a topic name, e.g. dead_letter('orders-dlq')")
        if self.action is not Action.DEAD_LETTER and self.topic is not None:
            raise ConfigError(f"only dead_letter() takes a topic, not {self.action.value}()")

    def describe(self) -> str:
        """A short text for logs, e.g. ``dead_letter('x') after up to 5 attempts``."""
        text = f"{self.action.value}({self.topic!r})" if self.topic else f"{self.action.value}()"
        if self.retry is not None and self.retry.max_attempts > 1:
            text += f" after up to {self.retry.max_attempts} attempts"
        return text


def backoff(
    max_attempts: int = 5,
    *,
    initial: Duration = 0.1,
    multiplier: float = 2.0,
    max_delay: Duration = 30.0,
    max_elapsed: Duration | None = None,
    jitter: float = 0.2,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> Backoff:
    """Exponential backoff with jitter.

    Args:
        max_attempts: attempts in total, the first one included.
        initial: delay before the second attempt (seconds or timedelta).
        multiplier: growth factor between delays.
        max_delay: cap of a single delay.
        max_elapsed: give up when the next attempt would start later than this after the
            first failure.
        jitter: fraction by which each delay is shortened at random (0 = exact delays).
        retry_on: exception types worth retrying.

    Example:
        >>> backoff(5, initial=0.2, max_delay=10).initial_ms
        200
    """
    initial_ms = _to_ms(initial, "backoff initial")
    max_delay_ms = _to_ms(max_delay, "backoff max_delay")
    assert initial_ms is not None and max_delay_ms is not None  # not None for non-None input
    return Backoff(
        max_attempts=max_attempts,
        initial_ms=initial_ms,
        multiplier=multiplier,
        max_delay_ms=max_delay_ms,
        max_elapsed_ms=_to_ms(max_elapsed, "backoff max_elapsed"),
        jitter=jitter,
        retry_on=tuple(retry_on),
    )


def fail(*, retry: Backoff | None = None) -> ErrorPolicy:
    """Stop the application on a failure (after retries, if given).

    Example:
        >>> fail().describe()
        'fail()'
    """
    return ErrorPolicy(Action.FAIL, retry=retry)


def skip(*, retry: Backoff | None = None) -> ErrorPolicy:
    """Drop a failed record (after retries, if given); it is counted in
    ``strom_errors_total``.

    Example:
        >>> skip(retry=backoff(3)).describe()
        'skip() after up to 3 attempts'
    """
    return ErrorPolicy(Action.SKIP, retry=retry)


def dead_letter(topic: str, *, retry: Backoff | None = None) -> ErrorPolicy:
    """Write a failed record (after retries, if given) to the dead-letter ``topic``: original
    key, value and headers, plus ``strom.error.*`` / ``strom.source.*`` headers
    (see :mod:`strom.dead_letter`).

    Example:
        >>> dead_letter("orders-dlq").topic
        'orders-dlq'
    """
    if not isinstance(topic, str) or not topic:
        raise ConfigError(f"dead_letter() needs a non-empty topic name, got {topic!r}")
    return ErrorPolicy(Action.DEAD_LETTER, topic=topic, retry=retry)


def retry(
    max_attempts: int | Backoff = 5,
    *,
    initial: Duration = 0.1,
    multiplier: float = 2.0,
    max_delay: Duration = 30.0,
    max_elapsed: Duration | None = None,
    jitter: float = 0.2,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    then: ErrorPolicy | None = None,
) -> ErrorPolicy:
    """Retry with exponential backoff; when retries run out, do what ``then`` says (default:
    fail).

    ``max_attempts`` may also be a ready :class:`Backoff` (then the other backoff arguments are
    not used).

    Example:
        >>> retry(3, then=skip()).describe()
        'skip() after up to 3 attempts'
        >>> retry(backoff(4)).describe()
        'fail() after up to 4 attempts'
    """
    if isinstance(max_attempts, Backoff):
        settings = max_attempts
    else:
        settings = backoff(
            max_attempts,
            initial=initial,
            multiplier=multiplier,
            max_delay=max_delay,
            max_elapsed=max_elapsed,
            jitter=jitter,
            retry_on=retry_on,
        )
    final = then if then is not None else fail()
    if final.retry is not None:
        raise ConfigError(f"retry(then={final.describe()}): the fallback must not retry itself")
    return ErrorPolicy(final.action, topic=final.topic, retry=settings)


@dataclass(frozen=True, slots=True)
class ErrorHandler:
    """Resolves the policy of a step and decides what to do with one failure.

    Args:
        default: the app-wide policy (fail unless told otherwise).
        steps: per-step overrides, by step name (``deserialize:<topic>`` for decoding).
        deserialization: policy for decoding failures of topics without their own override;
            None = ``default``.
        clock: epoch milliseconds now; injected so tests control time.
        rand: uniform random numbers in [0, 1) for jitter; injected so tests are exact.
    """

    default: ErrorPolicy = field(default_factory=fail)
    steps: Mapping[str, ErrorPolicy] = field(default_factory=dict)
    deserialization: ErrorPolicy | None = None
    clock: Clock = system_clock_ms
    rand: Callable[[], float] = _random.random

    def policy_for(self, step: str) -> ErrorPolicy:
        """The policy that applies to ``step``: its override, else (for ``deserialize:...``
        steps) the deserialization policy, else the default.

        Example:
            >>> h = ErrorHandler(steps={"parse": skip()}, deserialization=dead_letter("bad"))
            >>> h.policy_for("parse").action.value, h.policy_for("deserialize:t").topic
            ('skip', 'bad')
            >>> h.policy_for("other").action.value
            'fail'
        """
        policy = self.steps.get(step)
        if policy is not None:
            return policy
        if self.deserialization is not None and step.startswith(DESERIALIZE_STEP_PREFIX):
            return self.deserialization
        return self.default

    def dead_letter_topics(self) -> list[str]:
        """Every dead-letter topic the policies name, sorted (to create them up front)."""
        policies = [self.default, *self.steps.values()]
        if self.deserialization is not None:
            policies.append(self.deserialization)
        return sorted({p.topic for p in policies if p.topic is not None})

    def decide(
        self,
        error: BaseException,
        *,
        step: str,
        attempt: int,
        first_failure_ms: int,
    ) -> ErrorResponse:
        """What to do after attempt number ``attempt`` (1-based) of ``step`` raised ``error``.

        Args:
            error: the exception raised by the step (or the deserializer).
            step: the step's name (``deserialize:<topic>`` for decoding).
            attempt: how many attempts have failed so far, this one included.
            first_failure_ms: epoch ms of the first failed attempt of this record.

        Returns:
            :attr:`Action.RETRY` with a delay while retries remain, else the policy's terminal
            action.
        """
        if attempt < 1:
            raise ConfigError(f"attempt numbers start at 1, got {attempt} (step {step!r})")
        policy = self.policy_for(step)
        settings = policy.retry
        reason = self._no_retry_reason(error, settings, attempt)
        if reason is None and settings is not None:
            delay = settings.delay_ms(attempt, self.rand())
            if settings.max_elapsed_ms is not None:
                next_start = self.clock() + delay
                if next_start - first_failure_ms > settings.max_elapsed_ms:
                    reason = (
                        f"retries stopped after {attempt} attempts: the next one would start "
                        f"past max_elapsed={settings.max_elapsed_ms} ms"
                    )
            if reason is None:
                return ErrorResponse(
                    Action.RETRY,
                    delay_ms=delay,
                    reason=f"attempt {attempt} of {settings.max_attempts} failed",
                )
        return ErrorResponse(policy.action, topic=policy.topic, reason=reason or "no retry")

    @staticmethod
    def _no_retry_reason(
        error: BaseException, settings: Backoff | None, attempt: int
    ) -> str | None:
        if settings is None or settings.max_attempts <= 1:
            return "the policy does not retry"
        if isinstance(error, SerializationError):
            return "deserialization errors are not retried (the same bytes fail the same way)"
        if not isinstance(error, settings.retry_on):
            return f"{type(error).__name__} is not in retry_on"
        if attempt >= settings.max_attempts:
            return f"retries exhausted after {attempt} attempts"
        return None
