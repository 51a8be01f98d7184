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


class StepCounter:
    """Plain-int counts of one step, bumped by its compiled function and read by the runner
    once per batch (:meth:`take`), which publishes them to Prometheus.

    A compiled step adds 1 to ``records_in`` per value it receives and, off the happy path,
    1 to ``dropped`` per value it passes on to nothing (filtered out, unrouted, or its work
    raised). Its records out are then ``records_in - dropped``, except for steps that emit a
    varying number of values per input (``flat_map``), which count ``emitted`` themselves
    (``counts_out``). So the happy path of a one-to-one step costs one integer increment.

    With ``timing``, the step's own work (its user function; for ``to`` and ``sink`` the whole
    write) is timed with :func:`time.perf_counter_ns` into ``ns``; off by default, because two
    clock reads per record per step cost more than the counting.

    Example:
        >>> c = StepCounter("price")
        >>> c.records_in += 3
        >>> c.dropped += 1
        >>> c.take(), c.take()
        ((3, 2, 0), (0, 0, 0))
    """

    __slots__ = ("counts_out", "dropped", "emitted", "name", "ns", "records_in", "timing")

    def __init__(self, name: str, *, timing: bool = False) -> None:
        self.name = name
        self.timing = timing
        self.counts_out = False
        self.records_in = 0
        self.dropped = 0
        self.emitted = 0
        self.ns = 0

    def take(self) -> tuple[int, int, int]:
        """(records in, records out, nanoseconds) since the last call; resets the counts."""
        records_in = self.records_in
        records_out = self.emitted if self.counts_out else records_in - self.dropped
        ns = self.ns
        self.records_in = self.dropped = self.emitted = self.ns = 0
        return records_in, records_out, ns


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
    """``fn`` adding the nanoseconds each call takes to ``counter.ns`` (errors included).

    Example:
        >>> import time
        >>> c = StepCounter("s", timing=True)
        >>> timed(lambda v: time.sleep(0.001) or v, c)(2), c.ns >= 1_000_000
        (2, True)
    """
    clock = time.perf_counter_ns

    def timed_(value: Any) -> Any:
        start = clock()
        try:
            return fn(value)
        finally:
            counter.ns += clock() - start

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
