"""Window definitions: which windows a record belongs to (the terms of ``STATE_AND_TIME.md``).

Every definition is an immutable value with its times in integer milliseconds; the
constructor functions accept ``int`` milliseconds or ``datetime.timedelta`` and check their
arguments at once, so a bad definition fails where it is written, with a
:class:`~strom.errors.ConfigError` naming the argument.

=================  =========================================================================
``tumbling``       ``[offset + k·size, offset + (k+1)·size)``: one window per record
``hopping``        every ``[offset + k·advance, offset + k·advance + size)`` holding the record
``sliding``        Kafka Streams' ``SlidingWindows``: ``[t - size, t]`` (both ends inclusive)
                   for each record at ``t``, plus ``[t + 1, t + 1 + size]`` when a later record
                   falls in it; a window per distinct set of records
``session``        per key, records closer than ``gap`` form one session ``[first, last]``
``count``          per key, every ``n`` records form one window (no time)
=================  =========================================================================

Example:
    >>> from datetime import timedelta
    >>> from strom import windows
    >>> windows.tumbling(timedelta(minutes=5))
    Tumbling(size=300000, offset=0)
    >>> windows.hopping(timedelta(minutes=5), advance=timedelta(minutes=1))
    Hopping(size=300000, advance=60000, offset=0)
    >>> windows.hopping(60_000, advance=90_000)
    Traceback (most recent call last):
    ...
    strom.errors.ConfigError: hopping window advance (90000 ms) must be <= its size (60000 ms)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TypeAlias

from strom.errors import ConfigError
from strom.windows.durations import to_millis


def _positive(value: object, what: str) -> int:
    if type(value) is not int:
        raise ConfigError(f"{what} must be an int (milliseconds), got {value!r}")
    if value <= 0:
        raise ConfigError(f"{what} must be > 0 ms, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Tumbling:
    """Fixed-size, non-overlapping windows ``[offset + k·size, offset + (k+1)·size)``.

    Attributes:
        size: window length in ms.
        offset: where windows start relative to the epoch, ``0 <= offset < size``.
    """

    size: int
    offset: int = 0

    def __post_init__(self) -> None:
        _positive(self.size, "tumbling window size")
        if type(self.offset) is not int or not 0 <= self.offset < self.size:
            raise ConfigError(
                f"tumbling window offset must be an int in [0, size), got {self.offset!r}"
            )


@dataclass(frozen=True, slots=True)
class Hopping:
    """Fixed-size windows starting every ``advance`` ms; a record is in ``size / advance`` of
    them (rounded up).

    Attributes:
        size: window length in ms.
        advance: distance between window starts in ms, ``0 < advance <= size``.
        offset: where windows start relative to the epoch, ``0 <= offset < advance``.
    """

    size: int
    advance: int
    offset: int = 0

    def __post_init__(self) -> None:
        _positive(self.size, "hopping window size")
        _positive(self.advance, "hopping window advance")
        if self.advance > self.size:
            raise ConfigError(
                f"hopping window advance ({self.advance} ms) must be <= its size ({self.size} ms)"
            )
        if type(self.offset) is not int or not 0 <= self.offset < self.advance:
            raise ConfigError(
                f"hopping window offset must be an int in [0, advance), got {self.offset!r}"
            )


@dataclass(frozen=True, slots=True)
class Sliding:
    """Kafka Streams' sliding windows: a window ``[t - size, t]`` ending at each record, and
    ``[t + 1, t + 1 + size]`` starting just after it when a later record falls in it.

    Both ends are inclusive (a window spans ``size + 1`` ms); a window exists only for a
    distinct, non-empty set of records. See ``docs/windows.md``.

    Attributes:
        size: the largest time difference between two records of one window, in ms.
    """

    size: int

    def __post_init__(self) -> None:
        _positive(self.size, "sliding window size")


@dataclass(frozen=True, slots=True)
class Session:
    """Per key, records closer than ``gap`` ms to each other form one session
    ``[first, last]``; a record that bridges two sessions merges them.

    Attributes:
        gap: the inactivity gap in ms: a record ``gap`` ms or more after a session's last
            record starts a new session. (Kafka Streams and Flink merge records exactly
            ``gap`` apart: their ``gap`` is strom's ``gap + 1``.)
    """

    gap: int

    def __post_init__(self) -> None:
        _positive(self.gap, "session gap")


@dataclass(frozen=True, slots=True)
class Count:
    """Per key, every ``n`` records form one window (records ``k·n`` to ``(k+1)·n - 1`` of
    the key, in arrival order); no time, no lateness.

    Attributes:
        n: records per window.
    """

    n: int

    def __post_init__(self) -> None:
        if type(self.n) is not int:
            raise ConfigError(f"count window size n must be an int, got {self.n!r}")
        if self.n < 1:
            raise ConfigError(f"count window size n must be >= 1, got {self.n}")


WindowDefinition: TypeAlias = Tumbling | Hopping | Sliding | Session | Count
"""Any window definition."""

TimeWindow: TypeAlias = Tumbling | Hopping | Sliding
"""The definitions stored in a window store."""


def tumbling(size: int | timedelta, offset: int | timedelta = 0) -> Tumbling:
    """Tumbling windows of ``size``: ``[offset + k·size, offset + (k+1)·size)``.

    Args:
        size: window length (ms or timedelta), > 0.
        offset: shifts window starts from the epoch (e.g. a time zone); taken modulo ``size``,
            so ``-timedelta(hours=5)`` works for day windows in UTC-5.

    Example:
        >>> from datetime import timedelta
        >>> tumbling(timedelta(days=1), offset=-timedelta(hours=5))
        Tumbling(size=86400000, offset=68400000)
        >>> tumbling(0)
        Traceback (most recent call last):
        ...
        strom.errors.ConfigError: tumbling window size must be > 0 ms, got 0

    Raises:
        ConfigError: size <= 0, or an argument that is neither int nor timedelta.
    """
    millis = _positive(to_millis(size, "tumbling window size"), "tumbling window size")
    return Tumbling(millis, to_millis(offset, "tumbling window offset") % millis)


def hopping(
    size: int | timedelta, advance: int | timedelta, offset: int | timedelta = 0
) -> Hopping:
    """Hopping windows of ``size`` starting every ``advance``.

    Args:
        size: window length (ms or timedelta), > 0.
        advance: distance between window starts, ``0 < advance <= size`` (``advance == size``
            is a tumbling window).
        offset: shifts window starts from the epoch; taken modulo ``advance``.

    Example:
        >>> hopping(10_000, advance=5_000)
        Hopping(size=10000, advance=5000, offset=0)
        >>> hopping(10_000, advance=0)
        Traceback (most recent call last):
        ...
        strom.errors.ConfigError: hopping window advance must be > 0 ms, got 0

    Raises:
        ConfigError: size or advance <= 0, advance > size, a bad type.
    """
    size_ms = _positive(to_millis(size, "hopping window size"), "hopping window size")
    advance_ms = _positive(to_millis(advance, "hopping window advance"), "hopping window advance")
    offset_ms = to_millis(offset, "hopping window offset")
    return Hopping(size_ms, advance_ms, offset_ms % advance_ms)


def sliding(size: int | timedelta) -> Sliding:
    """Sliding windows (Kafka Streams' ``SlidingWindows``) of time difference ``size``.

    Args:
        size: the largest time difference between two records of one window, > 0.

    Example:
        >>> from datetime import timedelta
        >>> sliding(timedelta(seconds=10))
        Sliding(size=10000)

    Raises:
        ConfigError: size <= 0 or a bad type.
    """
    return Sliding(to_millis(size, "sliding window size"))


def session(gap: int | timedelta) -> Session:
    """Session windows with inactivity ``gap``.

    Args:
        gap: records closer than this (ms or timedelta) are in one session, > 0.

    Example:
        >>> from datetime import timedelta
        >>> session(timedelta(minutes=30))
        Session(gap=1800000)
        >>> session(timedelta(0))
        Traceback (most recent call last):
        ...
        strom.errors.ConfigError: session gap must be > 0 ms, got 0

    Raises:
        ConfigError: gap <= 0 or a bad type.
    """
    return Session(to_millis(gap, "session gap"))


def count(n: int) -> Count:
    """Count windows: per key, every ``n`` records form one window.

    Args:
        n: records per window, >= 1.

    Example:
        >>> count(100)
        Count(n=100)
        >>> count(0)
        Traceback (most recent call last):
        ...
        strom.errors.ConfigError: count window size n must be >= 1, got 0

    Raises:
        ConfigError: n < 1 or not an int.
    """
    return Count(n)
