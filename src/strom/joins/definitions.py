"""Join windows: which records of the other side a record joins, and how long to wait.

A left record at ``t`` joins every right record of the same key with a timestamp in
``[t - before, t + after]`` (both ends inclusive); a right record at ``t`` joins the left
records in ``[t - after, t + before]`` (the same pairs, seen from the other side).

- :func:`within` / :func:`join_window` define a stream-stream join window (Kafka Streams'
  ``JoinWindows``): ``before``, ``after`` and ``grace`` are durations ``>= 0``.
- :func:`interval` defines an interval join (Flink's ``between(lower, upper)``):
  ``right.ts - left.ts`` in ``[lower, upper]``, bounds of any sign with ``lower <= upper``
  (so "payments 1 to 5 minutes after the order" is ``interval(1 min, 5 min)``).

Durations are :class:`~datetime.timedelta` or ints of milliseconds. ``grace`` is how late
(behind the watermark) a record may arrive and still join; see ``docs/joins.md``.

Example:
    >>> from datetime import timedelta
    >>> from strom.joins import within, join_window, interval
    >>> within(timedelta(seconds=10))
    JoinWindows(before=10000, after=10000, grace=0)
    >>> join_window(before=0, after=timedelta(minutes=1), grace=timedelta(seconds=5))
    JoinWindows(before=0, after=60000, grace=5000)
    >>> bounds = interval(timedelta(minutes=1), timedelta(minutes=5))
    >>> bounds.before, bounds.after
    (-60000, 300000)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TypeAlias

from strom.errors import ConfigError
from strom.joins.types import to_ms

Duration: TypeAlias = timedelta | int
"""A duration: a timedelta, or an int of milliseconds."""

_MIN_SEGMENT = 60_000


def _suggested_segment(before: int, after: int, grace: int) -> int:
    # Kafka Streams' choice for join stores: half the retention, at least a minute. A fetch
    # reads one storage range per segment its window touches (the main cost of a join), so
    # narrow windows are better served by one wide segment than by many thin ones.
    return max(_MIN_SEGMENT, (max(before, 0) + max(after, 0) + grace) // 2)


@dataclass(frozen=True, slots=True)
class JoinWindows:
    """A stream-stream join window, in ms: ``[t - before, t + after]`` and ``grace``.

    Build it with :func:`within` or :func:`join_window`; direct construction checks the same
    rules (ints ``>= 0``).
    """

    before: int
    after: int
    grace: int

    def __post_init__(self) -> None:
        for name in ("before", "after", "grace"):
            value = getattr(self, name)
            if type(value) is not int:
                raise ConfigError(f"join window: {name} must be an int of ms, got {value!r}")
            if value < 0:
                raise ConfigError(
                    f"join window: {name} must not be negative, got {value} ms "
                    "(for a window that starts after the record, use strom.joins.interval)"
                )

    @property
    def segment_interval(self) -> int:
        """A segment interval (ms) for the join's window stores."""
        return _suggested_segment(self.before, self.after, self.grace)

    @property
    def retention_ms(self) -> int:
        """How long (event time past its timestamp) a record may stay buffered."""
        return max(self.before, self.after, 0) + self.grace


@dataclass(frozen=True, slots=True)
class Interval:
    """Interval-join bounds, in ms: ``right.ts - left.ts`` in ``[lower, upper]``, and grace.

    Build it with :func:`interval`; direct construction checks the same rules.
    """

    lower: int
    upper: int
    grace: int

    def __post_init__(self) -> None:
        for name in ("lower", "upper", "grace"):
            value = getattr(self, name)
            if type(value) is not int:
                raise ConfigError(f"join interval: {name} must be an int of ms, got {value!r}")
        if self.lower > self.upper:
            raise ConfigError(
                f"join interval: lower ({self.lower} ms) must not be above upper "
                f"({self.upper} ms): no pair of records could join"
            )
        if self.grace < 0:
            raise ConfigError(f"join interval: grace must not be negative, got {self.grace} ms")

    @property
    def before(self) -> int:
        """How far before a left record right records join (``-lower``; may be negative)."""
        return -self.lower

    @property
    def after(self) -> int:
        """How far after a left record right records join (``upper``; may be negative)."""
        return self.upper

    @property
    def segment_interval(self) -> int:
        """A segment interval (ms) for the join's window stores."""
        return _suggested_segment(self.before, self.after, self.grace)

    @property
    def retention_ms(self) -> int:
        """How long (event time past its timestamp) a record may stay buffered."""
        return max(self.before, self.after, 0) + self.grace


def within(size: Duration, *, grace: Duration = 0) -> JoinWindows:
    """A symmetric join window: records at most ``size`` apart join (``before = after``).

    Args:
        size: a timedelta or ms, ``>= 0``.
        grace: how long after the window's end late records are still accepted.

    Raises:
        ConfigError: a negative or non-duration size or grace.
    """
    ms = to_ms(size, "join window size")
    return JoinWindows(ms, ms, to_ms(grace, "join window grace"))


def join_window(*, before: Duration, after: Duration, grace: Duration = 0) -> JoinWindows:
    """An asymmetric join window ``[t - before, t + after]`` around each left record.

    Raises:
        ConfigError: a negative or non-duration bound or grace.
    """
    return JoinWindows(
        to_ms(before, "join window before"),
        to_ms(after, "join window after"),
        to_ms(grace, "join window grace"),
    )


def interval(lower: Duration, upper: Duration, *, grace: Duration = 0) -> Interval:
    """Interval-join bounds: a right record joins a left record when
    ``lower <= right.ts - left.ts <= upper``.

    Args:
        lower: a timedelta or ms, of any sign.
        upper: a timedelta or ms, of any sign, ``>= lower``.
        grace: how late (behind the watermark) records are still accepted, ``>= 0``.

    Raises:
        ConfigError: ``lower > upper``, a negative grace, or a non-duration argument.
    """
    return Interval(
        to_ms(lower, "join interval lower bound", allow_negative=True),
        to_ms(upper, "join interval upper bound", allow_negative=True),
        to_ms(grace, "join interval grace"),
    )
