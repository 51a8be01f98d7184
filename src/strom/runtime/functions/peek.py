"""``peek`` (side effect, records pass) and ``for_each`` (side effect, end of pipeline)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strom.runtime.functions.base import Fn, step_failed


def compile_peek(step: str, fn: Callable[[Any], object], downstream: Fn) -> Fn:
    """A step calling ``fn(value)`` and passing ``value`` on unchanged.

    Example:
        >>> seen, out = [], []
        >>> compile_peek("log", seen.append, out.append)(7)
        >>> seen, out
        ([7], [7])
    """

    def peek_(value: Any) -> None:
        try:
            fn(value)
        except Exception as exc:
            raise step_failed(step, exc) from exc
        downstream(value)

    return peek_


def compile_for_each(step: str, fn: Callable[[Any], object]) -> Fn:
    """A terminal step calling ``fn(value)``."""

    def for_each_(value: Any) -> None:
        try:
            fn(value)
        except Exception as exc:
            raise step_failed(step, exc) from exc

    return for_each_
