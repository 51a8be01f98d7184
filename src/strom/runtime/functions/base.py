"""What every compiled step shares: its type, failure reporting and fan-out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from strom.errors import ProcessingError

Fn = Callable[[Any], None]
"""A compiled step: takes the record's current value, passes results downstream."""


def step_failed(step: str, exc: Exception) -> ProcessingError:
    """The error for user function of ``step`` raising ``exc`` (raise it ``from exc``).

    The runner catches it, adds the record's position, and applies the error policy (today:
    stop the application).
    """
    return ProcessingError(f"step {step!r} raised {type(exc).__name__}: {exc}", step=step)


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
