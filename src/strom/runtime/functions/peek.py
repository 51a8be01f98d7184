"""``peek`` (side effect, records pass) and ``for_each`` (side effect, end of pipeline)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from strom.runtime.functions.base import SAMPLE_EVERY, Fn, StepCounter, step_failed


def compile_peek(
    step: str, fn: Callable[[Any], object], downstream: Fn, counter: StepCounter | None = None
) -> Fn:
    """A step calling ``fn(value)`` and passing ``value`` on unchanged.

    Example:
        >>> seen, out = [], []
        >>> compile_peek("log", seen.append, out.append)(7)
        >>> seen, out
        ([7], [7])
    """
    c = counter if counter is not None else StepCounter(step)
    timing = c.timing
    clock = time.perf_counter_ns

    def peek_(value: Any) -> None:
        c.records_in += 1
        try:
            if timing and not c.records_in % SAMPLE_EVERY:
                start = clock()
                fn(value)
                c.ns += (clock() - start) * SAMPLE_EVERY
            else:
                fn(value)
        except Exception as exc:
            c.dropped += 1
            raise step_failed(step, exc) from exc
        downstream(value)

    return peek_


def compile_for_each(
    step: str, fn: Callable[[Any], object], counter: StepCounter | None = None
) -> Fn:
    """A terminal step calling ``fn(value)``; its records out are the calls that returned.

    A peek with nothing downstream: the same counting, timing and failure handling.
    """
    return compile_peek(step, fn, _discard, counter)


def _discard(value: Any) -> None:
    """The end of a terminal step's chain."""
