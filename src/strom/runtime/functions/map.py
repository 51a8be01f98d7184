"""``map`` / ``map_values``: value -> new value."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from strom.runtime.functions.base import SAMPLE_EVERY, Fn, StepCounter, step_failed


def compile_map(
    step: str, fn: Callable[[Any], Any], downstream: Fn, counter: StepCounter | None = None
) -> Fn:
    """A step passing ``fn(value)`` downstream, counted in ``counter``.

    Example:
        >>> out = []
        >>> compile_map("double", lambda v: v * 2, out.append)(21)
        >>> out
        [42]
    """
    c = counter if counter is not None else StepCounter(step)
    timing = c.timing
    clock = time.perf_counter_ns

    def map_(value: Any) -> None:
        c.records_in += 1
        try:
            if timing and not c.records_in % SAMPLE_EVERY:
                start = clock()
                result = fn(value)
                c.ns += (clock() - start) * SAMPLE_EVERY
            else:
                result = fn(value)
        except Exception as exc:
            c.dropped += 1
            raise step_failed(step, exc) from exc
        downstream(result)

    return map_
