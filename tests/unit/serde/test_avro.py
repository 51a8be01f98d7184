"""The Avro serde: schemaless binary, Confluent wire format, evolution and clear failures."""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro
import orjson
import pytest

from strom.errors import ConfigError, SerializationError
from strom.serde import avro

USER = {
    "type": "record",
    "name": "User",
    "namespace": "example",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": "string"},
        {"name": "email", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    ],
}
ADA = {"id": 1, "name": "ada", "email": "ada@example.org", "tags": ["admin"]}


def _fastavro_bytes(schema: Any, value: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), value)
    return out.getvalue()


def test_round_trip_record() -> None:
    serde = avro(USER)
    assert serde.deserialize(serde.serialize(ADA)) == ADA


def test_bytes_equal_fastavro_schemaless_encoding() -> None:
    assert avro(USER).serialize(ADA) == _fastavro_bytes(USER, ADA)


def test_schema_given_as_json_text_or_primitive_name() -> None:
    assert avro(orjson.dumps(USER).decode()).serialize(ADA) == avro(USER).serialize(ADA)
    assert avro("string").deserialize(avro("string").serialize("hi")) == "hi"
    assert avro('"long"').serialize(1) == b"\x02"


def test_none_passthrough() -> None:
    serde = avro(USER, wire_format_schema_id=3)
    assert serde.serialize(None) is None
    assert serde.deserialize(None) is None


def test_wrong_type_names_the_field() -> None:
    with pytest.raises(SerializationError) as info:
        avro(USER).serialize({**ADA, "id": "one"})
    message = str(info.value)
    assert "does not match the schema" in message
    assert "id" in message


def test_missing_required_field() -> None:
    with pytest.raises(SerializationError, match="no value and no default for name"):
        avro(USER).serialize({"id": 1})


def test_truncated_payload() -> None:
    data = avro(USER).serialize(ADA)
    assert data is not None
    with pytest.raises(SerializationError, match="ends before the Avro value"):
        avro(USER).deserialize(data[:3])


def test_trailing_bytes_mean_another_schema() -> None:
    data = avro(USER).serialize(ADA)
    assert data is not None
    with pytest.raises(SerializationError, match="3 bytes left over"):
        avro(USER).deserialize(data + b"\x00\x00\x00")


def test_confluent_wire_format_header() -> None:
    serde = avro(USER, wire_format_schema_id=258)
    data = serde.serialize(ADA)
    assert data is not None
    assert data[:5] == b"\x00" + struct.pack(">I", 258)
    assert data[5:] == _fastavro_bytes(USER, ADA)
    assert serde.deserialize(data) == ADA


def test_wrong_magic_byte() -> None:
    data = avro(USER, wire_format_schema_id=1).serialize(ADA)
    assert data is not None
    with pytest.raises(SerializationError, match=r"wrong magic byte 0x01.*expected 0x00"):
        avro(USER, wire_format_schema_id=1).deserialize(b"\x01" + data[1:])


def test_unframed_data_read_by_a_framed_serde() -> None:
    plain = avro(USER).serialize(ADA)
    assert plain is not None
    with pytest.raises(SerializationError, match="magic byte"):
        avro(USER, wire_format_schema_id=1).deserialize(plain)


def test_wrong_schema_id() -> None:
    data = avro(USER, wire_format_schema_id=7).serialize(ADA)
    with pytest.raises(
        SerializationError, match="written with schema id 7, this serde reads schema id 5"
    ):
        avro(USER, wire_format_schema_id=5).deserialize(data)


def test_short_framed_payload() -> None:
    with pytest.raises(SerializationError, match="shorter than the 5-byte Schema Registry header"):
        avro(USER, wire_format_schema_id=5).deserialize(b"\x00\x00")


@pytest.mark.parametrize("bad_id", [-1, 1 << 32, "5", 1.0, True])
def test_bad_schema_id(bad_id: Any) -> None:
    with pytest.raises(ConfigError, match="wire_format_schema_id must be an integer"):
        avro(USER, wire_format_schema_id=bad_id)


@pytest.mark.parametrize(
    ("schema", "match"),
    [
        ({"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}, "nope"),
        ("{not json", "not valid JSON"),
        ({"type": "record"}, "invalid Avro schema"),
    ],
)
def test_invalid_schema_is_a_config_error(schema: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        avro(schema)


def test_reader_schema_evolution_adds_default_and_drops_field() -> None:
    v2 = {
        "type": "record",
        "name": "User",
        "namespace": "example",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "tier", "type": "string", "default": "free"},
        ],
    }
    written = avro(USER).serialize(ADA)
    assert avro(USER, reader_schema=v2).deserialize(written) == {"id": 1, "tier": "free"}


def test_incompatible_reader_schema_fails_at_construction() -> None:
    v2 = {
        "type": "record",
        "name": "User",
        "namespace": "example",
        "fields": [{"name": "id", "type": "int"}, {"name": "score", "type": "double"}],
    }
    with pytest.raises(ConfigError) as info:
        avro(USER, reader_schema=v2)
    message = str(info.value)
    assert "reader type: int not compatible with writer type: long" in message
    assert "at User.id, User.score" in message
    assert "2 problems (reader field missing default value, type mismatch)" in message
