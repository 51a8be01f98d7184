"""Compiled steps in isolation: results passed on, user errors reported under the step name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from strom.context import NO_RECORD, SLOT, UNSET, current
from strom.errors import ProcessingError, StromError
from strom.log.types import Record
from strom.runtime.functions.base import fan_out
from strom.runtime.functions.branch import compile_split
from strom.runtime.functions.filter import compile_filter
from strom.runtime.functions.flat_map import compile_flat_map
from strom.runtime.functions.key_by import compile_key_by
from strom.runtime.functions.map import compile_map
from strom.runtime.functions.peek import compile_for_each, compile_peek
from strom.serde import string


def boom(value: Any) -> Any:
    raise ValueError(f"bad {value}")


@pytest.mark.parametrize(
    "build",
    [
        lambda out: compile_map("s", boom, out),
        lambda out: compile_filter("s", boom, out),
        lambda out: compile_flat_map("s", boom, out),
        lambda out: compile_peek("s", boom, out),
        lambda out: compile_for_each("s", boom),
        lambda out: compile_key_by("s", boom, out),
        lambda out: compile_split("s", [boom], [out], None),
    ],
)
def test_a_raising_user_function_is_reported_under_its_step(build: Any) -> None:
    out: list[Any] = []
    with pytest.raises(ProcessingError, match="step 's' raised ValueError: bad 7") as info:
        build(out.append)(7)
    assert info.value.step == "s"
    assert isinstance(info.value.__cause__, ValueError)
    assert out == []


def test_errors_downstream_are_not_blamed_on_the_step() -> None:
    def downstream(value: Any) -> None:
        raise ProcessingError("downstream", step="later")

    with pytest.raises(ProcessingError) as info:
        compile_map("first", str, downstream)(1)
    assert info.value.step == "later"


def test_flat_map_reports_errors_raised_while_generating() -> None:
    def gen(value: int) -> Iterator[int]:
        yield value
        raise KeyError("half way")

    out: list[int] = []
    with pytest.raises(ProcessingError, match="step 'g' raised KeyError"):
        compile_flat_map("g", gen, out.append)(1)
    assert out == []  # nothing is passed on from a failed call


def test_flat_map_passes_each_result() -> None:
    out: list[int] = []
    step = compile_flat_map("f", lambda n: range(n), out.append)
    step(3)
    step(0)
    assert out == [0, 1, 2]


def test_split_routes_to_the_first_match_and_drops_unread_branches() -> None:
    first: list[int] = []
    default: list[int] = []
    split = compile_split(
        "s", [lambda n: n < 5, lambda n: n < 10], [first.append, None], default.append
    )
    for n in (1, 7, 20):
        split(n)
    assert first == [1]  # 7 matched the unread second branch: dropped, not defaulted
    assert default == [20]


def test_key_by_sets_the_key_for_steps_downstream_only() -> None:
    SLOT.record = Record("t", 0, 3, b"old", b"v", 5)
    SLOT.key = UNSET
    SLOT.key_serde = string()
    try:
        seen: list[Any] = []
        keyed = compile_key_by("k", lambda v: v.upper(), lambda v: seen.append(current().key))
        fan_out([keyed, lambda v: seen.append(current().key)])("new")
        assert seen == ["NEW", "old"]
    finally:
        SLOT.record = NO_RECORD


def test_current_outside_processing_raises() -> None:
    with pytest.raises(StromError, match="no record is being processed"):
        current()
