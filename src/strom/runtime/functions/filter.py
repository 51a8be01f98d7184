"""``filter``: keep records whose predicate holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strom.runtime.functions.base import Fn, step_failed


def compile_filter(step: str, predicate: Callable[[Any], object], downstream: Fn) -> Fn:
    """A step passing ``value`` downstream when ``predicate(value)`` is true.

    Example:
        >>> out = []
        >>> keep_even = compile_filter("even", lambda v: v % 2 == 0, out.append)
        >>> for n in range(5):
        ...     keep_even(n)
        >>> out
        [0, 2, 4]
    """

    def filter_(value: Any) -> None:
        try:
            keep = predicate(value)
        except Exception as exc:
            raise step_failed(step, exc) from exc
        if keep:
            downstream(value)

    return filter_
