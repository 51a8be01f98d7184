"""Compiled steps in isolation: results passed on, user errors reported under the step name."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

import strom
from strom.context import NO_RECORD, SLOT, UNSET, current
from strom.errors import ProcessingError, SerializationError, StromError
from strom.log.types import Record
from strom.runtime.compile import compile_plan
from strom.runtime.functions.base import SAMPLE_EVERY, StepCounter, StepCounters, fan_out
from strom.runtime.functions.branch import compile_split
from strom.runtime.functions.filter import compile_filter
from strom.runtime.functions.flat_map import compile_flat_map
from strom.runtime.functions.key_by import compile_key_by
from strom.runtime.functions.map import compile_map
from strom.runtime.functions.peek import compile_for_each, compile_peek
from strom.runtime.functions.produce import compile_to
from strom.runtime.plan import build_plan
from strom.serde import json, string


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


# -- per-step counters ---------------------------------------------------------------------


def test_one_to_one_steps_count_records_in_and_out_and_failures() -> None:
    out: list[Any] = []
    for build in (
        lambda c: compile_map("s", lambda v: 10 // v, out.append, c),
        lambda c: compile_peek("s", lambda v: 10 // v, out.append, c),
        lambda c: compile_key_by("s", lambda v: 10 // v, out.append, c),
        lambda c: compile_for_each("s", lambda v: out.append(10 // v), c),
    ):
        counter = StepCounter("s")
        step = build(counter)
        for n in (1, 2, 0, 5):
            with contextlib.suppress(ProcessingError):
                step(n)
        assert (counter.records_in, counter.records_out) == (4, 3)
        assert counter.take() == (4, 3, 0)
        step(1)
        assert counter.take() == (1, 1, 0)  # only what was added since the last take


def test_filter_flat_map_and_branch_count_what_they_pass_on() -> None:
    out: list[Any] = []
    kept = StepCounter("keep")
    keep_even = compile_filter("keep", lambda n: n % 2 == 0, out.append, kept)
    words = StepCounter("words")
    split_words = compile_flat_map("words", str.split, out.append, words)
    routed = StepCounter("route")
    route = compile_split(
        "route", [lambda n: n < 5, lambda n: n < 10], [out.append, None], None, routed
    )
    for n in range(6):
        keep_even(n)
    for text in ("a b c", "", "d"):
        split_words(text)
    for n in (1, 7, 20, 3):
        route(n)
    assert kept.take()[:2] == (6, 3)
    assert words.take()[:2] == (3, 4)
    assert routed.take()[:2] == (4, 2)  # 7: unread branch, 20: no default


def test_to_counts_records_written_and_serialization_failures_as_dropped() -> None:
    sent: list[tuple[Any, ...]] = []

    class Producer:
        def send(self, topic: str, value: Any, key: Any, **kwargs: Any) -> None:
            sent.append((topic, value, key))

    counter = StepCounter("out")
    to = compile_to(
        "out",
        Producer(),  # type: ignore[arg-type]
        "target",
        string(),
        json(),
        key_bytes_reusable=True,
        value_bytes_reusable=False,
        counter=counter,
    )
    SLOT.record = Record("t", 0, 3, b"k", b"v", 5)
    SLOT.key = UNSET
    try:
        to({"a": 1})
        with pytest.raises(SerializationError) as info:
            to({"not", "json"})
    finally:
        SLOT.record = NO_RECORD
    assert info.value.step == "out"
    assert "step 'out' cannot serialize the value for topic 'target'" in str(info.value)
    assert sent == [("target", b'{"a":1}', b"k")]
    assert counter.take()[:2] == (2, 1)


def test_step_timing_samples_user_function_time() -> None:
    counter = StepCounter("slow", timing=True)
    step = compile_map("slow", lambda v: time.sleep(0.002) or v, lambda v: None, counter)
    for n in range(SAMPLE_EVERY * 2):
        step(n)
    records_in, records_out, ns = counter.take()
    assert (records_in, records_out) == (16, 16)
    # Two of the sixteen calls were timed, each counted SAMPLE_EVERY times.
    assert ns >= 16 * 2_000_000
    untimed = StepCounter("fast")
    plain = compile_map("fast", lambda v: time.sleep(0.002) or v, lambda v: None, untimed)
    for n in range(SAMPLE_EVERY):
        plain(n)
    assert untimed.take()[2] == 0


def test_compiled_copies_of_a_step_share_its_counter() -> None:
    app = strom.App("counters-share", broker="local://unused")
    a, b, out = app.topic("a"), app.topic("b"), app.topic("out")
    app.stream(a).merge(app.stream(b)).map(lambda v: v, name="same").to(out, name="write")
    counters = StepCounters()

    class Producer:
        def send(self, *args: Any, **kwargs: Any) -> None:
            pass

    sources = compile_plan(build_plan(app.graph), Producer(), counters)  # type: ignore[arg-type]
    SLOT.record = Record("a", 0, 0, None, b"1", 0)
    SLOT.key = UNSET
    SLOT.key_serde = string()
    try:
        sources["a"].chain(1)
        sources["b"].chain(2)
    finally:
        SLOT.record = NO_RECORD
    assert sorted(c.name for c in counters) == ["same", "write"]
    assert counters("same").take()[:2] == (2, 2)
    assert counters("write").take()[:2] == (2, 2)
