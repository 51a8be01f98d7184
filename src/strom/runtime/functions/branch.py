"""``branch``: route each record to the first branch whose predicate holds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from strom.runtime.functions.base import Fn, step_failed


def compile_split(
    step: str,
    predicates: Sequence[Callable[[Any], object]],
    branches: Sequence[Fn | None],
    default: Fn | None,
) -> Fn:
    """A step handing ``value`` to ``branches[i]`` for the first ``predicates[i]`` that holds,
    else to ``default``. A None branch (nobody reads it) drops the record.

    Example:
        >>> small, large = [], []
        >>> split = compile_split("size", [lambda n: n < 10], [small.append], large.append)
        >>> for n in (1, 50, 3):
        ...     split(n)
        >>> small, large
        ([1, 3], [50])
    """
    routes = tuple(zip(predicates, branches, strict=True))

    def split_(value: Any) -> None:
        for predicate, branch in routes:
            try:
                hit = predicate(value)
            except Exception as exc:
                raise step_failed(step, exc) from exc
            if hit:
                if branch is not None:
                    branch(value)
                return
        if default is not None:
            default(value)

    return split_
