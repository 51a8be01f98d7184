"""``flat_map``: value -> zero or more values."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from strom.runtime.functions.base import Fn, StepCounter, step_failed, timed


def _materialized(fn: Callable[[Any], Iterable[Any]]) -> Callable[[Any], Iterable[Any]]:
    """``fn`` returning a list, so a timed call includes running a generator."""

    def materialized_(value: Any) -> Iterable[Any]:
        results = fn(value)
        if results.__class__ is not list and results.__class__ is not tuple:
            results = list(results)
        return results

    return materialized_


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
    if c.timing:
        fn = timed(_materialized(fn), c)

    def flat_map_(value: Any) -> None:
        c.records_in += 1
        try:
            results = fn(value)
            # Materialize generators here, so that their errors are reported as this step's.
            if results.__class__ is not list and results.__class__ is not tuple:
                results = list(results)
        except Exception as exc:
            raise step_failed(step, exc) from exc
        c.emitted += len(results)  # type: ignore[arg-type]  # a list or tuple by now
        for result in results:
            downstream(result)

    return flat_map_
