"""Avro schema resolution rules, checked before any record is read."""

from __future__ import annotations

from typing import Any

import pytest

from strom.errors import ConfigError
from strom.serde import avro_incompatibilities, check_avro_compatible


def record(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        ("int", "long"),
        ("int", "double"),
        ("long", "float"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
        ("int", ["null", "int"]),
        (["int", "long"], "double"),
        ({"type": "long", "logicalType": "timestamp-millis"}, "long"),
        ({"type": "array", "items": "int"}, {"type": "array", "items": "long"}),
        ({"type": "map", "values": "float"}, {"type": "map", "values": "double"}),
        ({"type": "fixed", "name": "F", "size": 4}, {"type": "fixed", "name": "F", "size": 4}),
        (
            {"type": "enum", "name": "E", "symbols": ["A", "B"]},
            {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]},
        ),
        (
            {"type": "enum", "name": "E", "symbols": ["A", "Z"]},
            {"type": "enum", "name": "E", "symbols": ["A"], "default": "A"},
        ),
        (
            record("U", {"name": "a", "type": "int"}),
            record("U", {"name": "b", "type": "int", "aliases": ["a"]}),
        ),
        (
            record("U", {"name": "a", "type": "int"}),
            record("V", {"name": "a", "type": "int"}, aliases=["U"]),
        ),
    ],
)
def test_compatible_pairs(writer: Any, reader: Any) -> None:
    assert avro_incompatibilities(writer, reader) == []
    check_avro_compatible(writer, reader)


@pytest.mark.parametrize(
    ("writer", "reader", "problem"),
    [
        ("long", "int", "reader type: int not compatible with writer type: long"),
        ("double", "float", "reader type: float not compatible with writer type: double"),
        (["null", "string"], "string", "reader type: string not compatible with writer type: null"),
        ("boolean", ["int", "string"], "reader union lacking writer type boolean"),
        (
            {"type": "enum", "name": "E", "symbols": ["A", "Z"]},
            {"type": "enum", "name": "E", "symbols": ["A"]},
            "E: enum symbols {'Z'} of the writer are unknown to the reader",
        ),
        (
            {"type": "fixed", "name": "F", "size": 4},
            {"type": "fixed", "name": "F", "size": 8},
            "F: fixed sizes differ (expected: 4, found: 8)",
        ),
        (
            record("U", {"name": "a", "type": "int"}),
            record("V", {"name": "a", "type": "int"}),
            "V: the reader's name (and aliases) differ from the writer's (expected: U)",
        ),
        (
            record("U", {"name": "a", "type": "int"}),
            record("U", {"name": "a", "type": "int"}, {"name": "b", "type": "int"}),
            "U.b: field 'b' is missing in the writer schema and has no default",
        ),
        (
            {"type": "array", "items": "long"},
            {"type": "array", "items": "int"},
            "[]: reader type: int not compatible with writer type: long",
        ),
    ],
)
def test_incompatible_pairs(writer: Any, reader: Any, problem: str) -> None:
    problems = avro_incompatibilities(writer, reader)
    assert any(problem in p for p in problems), problems
    with pytest.raises(ConfigError, match="cannot read data written with the writer schema"):
        check_avro_compatible(writer, reader)


def test_recursive_types_terminate() -> None:
    node = record(
        "Node",
        {"name": "value", "type": "int"},
        {"name": "next", "type": ["null", "Node"], "default": None},
    )
    wider = record(
        "Node",
        {"name": "value", "type": "long"},
        {"name": "next", "type": ["null", "Node"], "default": None},
    )
    assert avro_incompatibilities(node, wider) == []
    assert avro_incompatibilities(wider, node) != []


def test_nested_path_in_message() -> None:
    writer = record(
        "Order", {"name": "user", "type": record("User", {"name": "id", "type": "long"})}
    )
    reader = record(
        "Order", {"name": "user", "type": record("User", {"name": "id", "type": "int"})}
    )
    assert avro_incompatibilities(writer, reader) == [
        "Order.user.id: reader type: int not compatible with writer type: long"
    ]
