"""``flat_map``: value -> zero or more values."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from strom.runtime.functions.base import Fn, step_failed


def compile_flat_map(step: str, fn: Callable[[Any], Iterable[Any]], downstream: Fn) -> Fn:
    """A step passing each value of ``fn(value)`` downstream.

    Example:
        >>> out = []
        >>> compile_flat_map("words", str.split, out.append)("a b")
        >>> out
        ['a', 'b']
    """

    def flat_map_(value: Any) -> None:
        try:
            results = fn(value)
            # Materialize generators here, so that their errors are reported as this step's.
            if results.__class__ is not list and results.__class__ is not tuple:
                results = list(results)
        except Exception as exc:
            raise step_failed(step, exc) from exc
        for result in results:
            downstream(result)

    return flat_map_
