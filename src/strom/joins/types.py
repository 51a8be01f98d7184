"""What the join and table cores emit, and the checks every core shares.

Every output carries its key, value and timestamp (epoch ms): :class:`Output` for streams,
:class:`TableChange` for tables (the old and the new value, so downstream table operators can
retract what they emitted before).

Example:
    >>> from strom.joins import Output, TableChange
    >>> Output("user-1", {"tier": "pro"}, 1_000)
    Output(key='user-1', value={'tier': 'pro'}, timestamp=1000)
    >>> change = TableChange("user-1", old=None, new="pro", timestamp=1_000)
    >>> change.is_delete, change.to_output()
    (False, Output(key='user-1', value='pro', timestamp=1000))
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Generic, NamedTuple, TypeVar

from strom.errors import ConfigError

K = TypeVar("K")
V = TypeVar("V")


class Output(NamedTuple, Generic[K, V]):
    """One record a join emits: key, value and event time (epoch ms)."""

    key: K
    value: V
    timestamp: int


class TableChange(NamedTuple, Generic[K, V]):
    """One update of a table: the key's value before and after, and when.

    ``new`` None is a delete (a tombstone downstream); ``old`` None means the key was absent.
    Kafka Streams calls this ``Change``; strom keeps that name for changelog records.
    """

    key: K
    old: V | None
    new: V | None
    timestamp: int

    @property
    def is_delete(self) -> bool:
        """True when the key disappears (``new`` is None)."""
        return self.new is None

    def to_output(self) -> Output[K, V | None]:
        """The change as a stream record (``to_stream``): the new value, None for a delete."""
        return Output(self.key, self.new, self.timestamp)


def check_joiner(joiner: object, where: str) -> None:
    """Refuse a missing or non-callable joiner with a clear message."""
    if joiner is None:
        raise ConfigError(f"{where}: a joiner is required: a function (left, right) -> value")
    if not callable(joiner):
        raise ConfigError(
            f"{where}: joiner must be a function (left, right) -> value, got {joiner!r}"
        )


def check_how(how: object, allowed: tuple[str, ...], where: str) -> str:
    """``how`` if it is one of ``allowed``; else a ConfigError listing them."""
    if not isinstance(how, str) or how not in allowed:
        raise ConfigError(
            f"{where}: how must be one of {', '.join(map(repr, allowed))}, got {how!r}"
        )
    return how


def check_function(function: object, what: str, where: str) -> Callable[..., Any]:
    """``function`` if callable; else a ConfigError naming it."""
    if not callable(function):
        raise ConfigError(f"{where}: {what} must be a function, got {function!r}")
    return function


def to_ms(value: object, what: str, *, allow_negative: bool = False) -> int:
    """A duration as int ms: a :class:`~datetime.timedelta`, or an int of milliseconds.

    Floats are refused (ambiguous: seconds or ms?); so are negative durations unless allowed.
    """
    if isinstance(value, timedelta):
        ms = value // timedelta(milliseconds=1)
    elif isinstance(value, int) and not isinstance(value, bool):
        ms = value
    else:
        raise ConfigError(f"{what} must be a timedelta or an int of milliseconds, got {value!r}")
    if ms < 0 and not allow_negative:
        raise ConfigError(f"{what} must not be negative, got {value!r}")
    return ms
