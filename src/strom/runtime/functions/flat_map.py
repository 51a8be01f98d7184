"""``flat_map``: value -> zero or more values."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from strom.runtime.functions.base import SAMPLE_EVERY, Fn, StepCounter, step_failed


def compile_flat_map(
    step: str,
    fn: Callable[[Any], Iterable[Any]],
    downstream: Fn,
    counter: StepCounter | None = None,
) -> Fn:
    """A step passing each value of ``fn(value)`` downstream, counted in ``counter`` (which
    counts the values emitted, not one per input).

    Example:
        >>> out = []
        >>> compile_flat_map("words", str.split, out.append)("a b")
        >>> out
        ['a', 'b']
    """
    c = counter if counter is not None else StepCounter(step)
    c.counts_out = True
    timing = c.timing
    clock = time.perf_counter_ns

    def flat_map_(value: Any) -> None:
        c.records_in += 1
        try:
            start = clock() if timing and not c.records_in % SAMPLE_EVERY else 0
            results = fn(value)
            # Materialize generators here, so that their errors are reported as this step's.
            if results.__class__ is not list and results.__class__ is not tuple:
                results = list(results)
            if start:
                c.ns += (clock() - start) * SAMPLE_EVERY
        except Exception as exc:
            raise step_failed(step, exc) from exc
        c.emitted += len(results)
        for result in results:
            downstream(result)

    return flat_map_
