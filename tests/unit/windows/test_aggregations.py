"""The built-in aggregations: results, merge (session windows), and accumulators that survive
the store's serde (a window read back after a checkpoint continues where it was)."""

from __future__ import annotations

from typing import Any

import pytest

from strom.errors import SerializationError
from strom.serde import json
from strom.windows import aggregations as agg
from strom.windows.stores import PairSerde

VALUES = [5, 2, 9, 2, 7]

CASES: list[tuple[str, Any, Any]] = [
    ("count", agg.count(), 5),
    ("sum", agg.sum(), 25),
    ("sum fn", agg.sum(lambda v: v * 10), 250),
    ("min", agg.min(), 2),
    ("min fn", agg.min(lambda v: -v), -9),
    ("max", agg.max(), 9),
    ("mean", agg.mean(), 5.0),
    ("first", agg.first(), 5),
    ("last", agg.last(), 7),
    ("collect", agg.collect(), VALUES),
]


@pytest.mark.parametrize(("name", "aggregation", "expected"), CASES, ids=[c[0] for c in CASES])
def test_results(name: str, aggregation: agg.Aggregation[Any, Any], expected: Any) -> None:
    assert aggregation.fold(VALUES) == expected


@pytest.mark.parametrize(("name", "aggregation", "expected"), CASES, ids=[c[0] for c in CASES])
def test_merge_equals_one_window_of_both(
    name: str, aggregation: agg.Aggregation[Any, Any], expected: Any
) -> None:
    """merge(earlier, later) is the accumulator of the earlier records then the later ones."""
    for cut in range(1, len(VALUES)):
        a, b = aggregation.init(), aggregation.init()
        for v in VALUES[:cut]:
            a = aggregation.add(a, v)
        for v in VALUES[cut:]:
            b = aggregation.add(b, v)
        assert aggregation.merge is not None
        assert aggregation.output(aggregation.merge(a, b)) == expected


@pytest.mark.parametrize(("name", "aggregation", "expected"), CASES, ids=[c[0] for c in CASES])
def test_accumulators_survive_the_store_serde(
    name: str, aggregation: agg.Aggregation[Any, Any], expected: Any
) -> None:
    acc = aggregation.init()
    for v in VALUES:
        # As if each record read the window back from storage after a checkpoint.
        acc = aggregation.add(acc, v)
        acc = aggregation.serde.deserialize(aggregation.serde.serialize(acc))
    assert aggregation.output(acc) == expected
    pair = PairSerde(aggregation.serde)
    assert pair.deserialize(pair.serialize((-(2**63), acc)))[1] == acc  # type: ignore[index]


def test_ties_keep_the_earliest_and_none_values_count() -> None:
    by_length = agg.min(len)
    assert by_length.fold(["ab", "cd", "e"]) == 1
    assert agg.first().fold([None, "x"]) is None  # a None value is a value
    assert agg.last().fold(["x", None]) is None
    first = agg.first()
    assert first.merge is not None and first.merge(first.init(), ["b"]) == ["b"]


def test_floats_and_mixed_numbers() -> None:
    assert agg.sum().fold([0.5, 1, 2.25]) == 3.75
    assert agg.mean(lambda e: e["ms"]).fold([{"ms": 1}, {"ms": 2}]) == 1.5


def test_custom_aggregate_with_its_own_serde() -> None:
    tags = agg.aggregate(
        init=dict,
        add=lambda acc, v: {**acc, v: acc.get(v, 0) + 1},
        merge=lambda a, b: {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}},
        serde=json(),
        name="tag-counts",
    )
    assert tags.fold(["x", "y", "x"]) == {"x": 2, "y": 1}
    assert tags.serde.deserialize(tags.serde.serialize({"x": 2})) == {"x": 2}


def test_unstorable_accumulator_is_a_clear_error() -> None:
    things = agg.aggregate(list, lambda acc, v: [*acc, v])
    with pytest.raises(SerializationError, match=r"cannot encode .*aggregate\(\.\.\., serde"):
        things.serde.serialize([object()])
    with pytest.raises(SerializationError, match="malformed stored value"):
        PairSerde(things.serde).deserialize(b"\x00\x01")
