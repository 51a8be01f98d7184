"""``branch``: route each record to the first branch whose predicate holds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from strom.runtime.functions.base import Fn, StepCounter, step_failed, timed


def compile_split(
    step: str,
    predicates: Sequence[Callable[[Any], object]],
    branches: Sequence[Fn | None],
    default: Fn | None,
    counter: StepCounter | None = None,
) -> Fn:
    """A step handing ``value`` to ``branches[i]`` for the first ``predicates[i]`` that holds,
    else to ``default``. A None branch (nobody reads it) drops the record, and so does a
    missing default; ``counter`` counts those as dropped.

    Example:
        >>> small, large = [], []
        >>> split = compile_split("size", [lambda n: n < 10], [small.append], large.append)
        >>> for n in (1, 50, 3):
        ...     split(n)
        >>> small, large
        ([1, 3], [50])
    """
    c = counter if counter is not None else StepCounter(step)
    if c.timing:
        predicates = [timed(p, c) for p in predicates]
    routes = tuple(zip(predicates, branches, strict=True))

    def split_(value: Any) -> None:
        c.records_in += 1
        for predicate, branch in routes:
            try:
                hit = predicate(value)
            except Exception as exc:
                c.dropped += 1
                raise step_failed(step, exc) from exc
            if hit:
                if branch is not None:
                    branch(value)
                else:
                    c.dropped += 1
                return
        if default is not None:
            default(value)
        else:
            c.dropped += 1

    return split_
