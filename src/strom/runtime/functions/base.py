"""What every compiled step shares: its type, failure reporting, fan-out and its counter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from strom.errors import ProcessingError

Fn = Callable[[Any], None]
"""A compiled step: takes the record's current value, passes results downstream."""


def step_failed(step: str, exc: Exception) -> ProcessingError:
    """The error for user function of ``step`` raising ``exc`` (raise it ``from exc``).

    The runner catches it, adds the record's position, and applies the step's error policy.
    """
    return ProcessingError(f"step {step!r} raised {type(exc).__name__}: {exc}", step=step)


SAMPLE_EVERY = 8
"""With step timing, one call in this many is timed, and its time counts this many times."""


class StepCounter:
    """Plain-int counts of one step, bumped by its compiled function and read by the runner
    once per batch (:meth:`take`), which publishes them to Prometheus.

    A compiled step adds 1 to ``records_in`` per value it receives and, off the happy path,
    1 to ``dropped`` per value it passes on to nothing (filtered out, unrouted, or its work
    raised). Its records out are then ``records_in - dropped``, except for steps that emit a
    varying number of values per input (``flat_map``), which count ``emitted`` themselves
    (``counts_out``). So the happy path of a one-to-one step costs one integer increment.
    The counts only grow; :meth:`take` returns what was added since its last call.

    With ``timing``, the step's own work (its user function; for ``to``, ``sink`` and a
    repartitioning ``key_by`` the whole write) is timed with :func:`time.perf_counter_ns`
    into ``ns``: one call in :data:`SAMPLE_EVERY`, counted that many times, because two
    clock reads cost more than most user functions (an unbiased estimate of the step's
    time). Off by default.

    Example:
        >>> c = StepCounter("price")
        >>> c.records_in += 3
        >>> c.dropped += 1
        >>> c.take(), c.take()
        ((3, 2, 0), (0, 0, 0))
    """

    __slots__ = (
        "_taken",
        "calls",
        "counts_out",
        "dropped",
        "emitted",
        "name",
        "ns",
        "records_in",
        "timing",
    )

    def __init__(self, name: str, *, timing: bool = False) -> None:
        self.name = name
        self.timing = timing
        self.counts_out = False
        self.records_in = 0
        self.dropped = 0
        self.emitted = 0
        self.ns = 0
        self.calls = 0  # calls of a timed() wrapper, to pick its samples
        self._taken = (0, 0, 0)

    @property
    def records_out(self) -> int:
        """Values the step passed on so far."""
        return self.emitted if self.counts_out else self.records_in - self.dropped

    def take(self) -> tuple[int, int, int]:
        """(records in, records out, nanoseconds) added since the last call."""
        now = (self.records_in, self.records_out, self.ns)
        before, self._taken = self._taken, now
        return now[0] - before[0], now[1] - before[1], now[2] - before[2]


class StepCounters:
    """The counters of an application's compiled steps, one per step name (a step compiled
    once per source topic shares its counter).

    Args:
        timing: whether the steps time their work (see :class:`StepCounter`).

    Example:
        >>> counters = StepCounters()
        >>> counters("price") is counters("price"), [c.name for c in counters]
        (True, ['price'])
    """

    def __init__(self, *, timing: bool = False) -> None:
        self.timing = timing
        self._by_name: dict[str, StepCounter] = {}

    def __call__(self, step: str) -> StepCounter:
        """The counter of ``step`` (created on first use)."""
        counter = self._by_name.get(step)
        if counter is None:
            counter = self._by_name[step] = StepCounter(step, timing=self.timing)
        return counter

    def __iter__(self) -> Iterator[StepCounter]:
        return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)


def timed(fn: Callable[[Any], Any], counter: StepCounter) -> Callable[[Any], Any]:
    """``fn``, timing one call in :data:`SAMPLE_EVERY` into ``counter.ns`` (counted that
    many times). For steps that cannot time their work inline (terminal writes, the
    predicates of ``branch``).

    Example:
        >>> import time
        >>> c = StepCounter("s", timing=True)
        >>> [timed(lambda v: time.sleep(0.001) or v, c)(n) for n in range(8)][-1]
        7
        >>> c.ns >= 8 * 1_000_000
        True
    """
    clock = time.perf_counter_ns

    def timed_(value: Any) -> Any:
        counter.calls += 1
        if counter.calls % SAMPLE_EVERY:
            return fn(value)
        start = clock()
        try:
            return fn(value)
        finally:
            counter.ns += (clock() - start) * SAMPLE_EVERY

    return timed_


def fan_out(steps: Sequence[Fn]) -> Fn:
    """One step that hands each value to every step of ``steps`` in order.

    Example:
        >>> seen = []
        >>> fan_out([seen.append, lambda v: seen.append(v * 10)])(1)
        >>> seen
        [1, 10]
    """
    if len(steps) == 1:
        return steps[0]
    if len(steps) == 2:
        first, second = steps

        def fan_out_2(value: Any) -> None:
            first(value)
            second(value)

        return fan_out_2
    every = tuple(steps)

    def fan_out_n(value: Any) -> None:
        for step in every:
            step(value)

    return fan_out_n
