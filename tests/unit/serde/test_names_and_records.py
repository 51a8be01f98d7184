"""Serdes by name (the CLI's), and record-level errors naming topic, partition and offset."""

from __future__ import annotations

import pytest

from strom.errors import ConfigError, SerializationError
from strom.serde import (
    SERDE_NAMES,
    by_name,
    deserialize_record,
    integer,
    json,
    serialize_record,
    string,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bytes", "bytes"),
        ("raw", "bytes"),
        ("string", "string"),
        ("STR", "string"),
        ("json", "json"),
        ("int", "int"),
        ("long", "int"),
        ("float", "float"),
        ("double", "float"),
    ],
)
def test_by_name(name: str, expected: str) -> None:
    assert by_name(name).name == expected


def test_by_name_int_and_float_are_eight_bytes() -> None:
    assert by_name("int").serialize(1) == integer().serialize(1)
    assert by_name("float").serialize(1.0) == b"?\xf0\x00\x00\x00\x00\x00\x00"


def test_by_name_unknown_lists_choices() -> None:
    with pytest.raises(ConfigError, match="unknown serde 'yaml': use one of bytes, string"):
        by_name("yaml")
    assert set(SERDE_NAMES) == {"bytes", "string", "json", "int", "float"}


def test_deserialize_record_passes_values_through() -> None:
    assert deserialize_record(json(), b"[1]", topic="t", partition=0, offset=0) == [1]
    assert deserialize_record(json(), None, topic="t", partition=0, offset=0) is None


def test_deserialize_record_names_topic_partition_offset_and_field() -> None:
    with pytest.raises(SerializationError) as info:
        deserialize_record(string(), b"\xff", topic="orders", partition=3, offset=41, field="key")
    error = info.value
    assert (error.topic, error.partition, error.offset) == ("orders", 3, 41)
    message = str(error)
    assert message.startswith("cannot deserialize the key with the 'string' serde:")
    assert "not valid utf-8" in message
    assert message.endswith("(topic='orders', partition=3, offset=41)")
    assert isinstance(error.__cause__, SerializationError)


class Broken:
    """A user-written serde that fails with a plain exception."""

    name = "broken"

    def serialize(self, value: object) -> bytes | None:
        raise RuntimeError("boom")

    def deserialize(self, data: bytes | None) -> object:
        raise KeyError("missing")


def test_foreign_exceptions_are_wrapped_with_their_type() -> None:
    with pytest.raises(SerializationError) as info:
        deserialize_record(Broken(), b"x", topic="t", partition=0, offset=9)
    assert "with the 'broken' serde: KeyError: 'missing'" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(
        SerializationError, match=r"cannot serialize the value .* RuntimeError: boom"
    ):
        serialize_record(Broken(), 1, topic="t")


def test_serialize_record_names_the_topic() -> None:
    with pytest.raises(SerializationError) as info:
        serialize_record(integer(size=1), 1000, topic="counts")
    assert info.value.topic == "counts"
    assert "range -128..127" in str(info.value)
    assert serialize_record(integer(size=1), 5, topic="counts") == b"\x05"
