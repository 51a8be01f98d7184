"""``map`` / ``map_values``: value -> new value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strom.runtime.functions.base import Fn, step_failed


def compile_map(step: str, fn: Callable[[Any], Any], downstream: Fn) -> Fn:
    """A step passing ``fn(value)`` downstream.

    Example:
        >>> out = []
        >>> compile_map("double", lambda v: v * 2, out.append)(21)
        >>> out
        [42]
    """

    def map_(value: Any) -> None:
        try:
            result = fn(value)
        except Exception as exc:
            raise step_failed(step, exc) from exc
        downstream(result)

    return map_
