"""``filter``: keep records whose predicate holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from strom.runtime.functions.base import SAMPLE_EVERY, Fn, StepCounter, step_failed


def compile_filter(
    step: str,
    predicate: Callable[[Any], object],
    downstream: Fn,
    counter: StepCounter | None = None,
) -> Fn:
    """A step passing ``value`` downstream when ``predicate(value)`` is true, counted in
    ``counter`` (records filtered out count as dropped).

    Example:
        >>> out = []
        >>> keep_even = compile_filter("even", lambda v: v % 2 == 0, out.append)
        >>> for n in range(5):
        ...     keep_even(n)
        >>> out
        [0, 2, 4]
    """
    c = counter if counter is not None else StepCounter(step)
    timing = c.timing
    clock = time.perf_counter_ns

    def filter_(value: Any) -> None:
        c.records_in += 1
        try:
            if timing and not c.records_in % SAMPLE_EVERY:
                start = clock()
                keep = predicate(value)
                c.ns += (clock() - start) * SAMPLE_EVERY
            else:
                keep = predicate(value)
        except Exception as exc:
            c.dropped += 1
            raise step_failed(step, exc) from exc
        if keep:
            downstream(value)
        else:
            c.dropped += 1

    return filter_
