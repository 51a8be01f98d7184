"""bytes, string, integer and floating serdes: Kafka-compatible bytes and clear failures."""

from __future__ import annotations

import struct

import pytest

from strom.errors import ConfigError, SerializationError
from strom.serde import Serde, bytes_, floating, integer, raw, string


@pytest.mark.parametrize("serde", [bytes_(), raw(), string(), integer(), floating()])
def test_none_passes_through_both_ways(serde: Serde[object]) -> None:
    assert serde.serialize(None) is None
    assert serde.deserialize(None) is None


@pytest.mark.parametrize("serde", [bytes_(), string(), integer(), floating()])
def test_every_serde_satisfies_the_protocol(serde: Serde[object]) -> None:
    assert isinstance(serde, Serde)
    assert serde.name in {"bytes", "string", "int", "float"}


def test_bytes_round_trip_and_copies_buffers() -> None:
    serde = bytes_()
    data = bytes(range(256))
    assert serde.serialize(data) is data
    assert serde.deserialize(data) == data
    assert serde.serialize(bytearray(b"ab")) == b"ab"  # type: ignore[arg-type]
    assert serde.serialize(memoryview(b"cd")) == b"cd"  # type: ignore[arg-type]


def test_bytes_refuses_other_types() -> None:
    with pytest.raises(SerializationError, match=r"bytes serde: expected bytes, got 'x' \(str\)"):
        bytes_().serialize("x")  # type: ignore[arg-type]


def test_string_round_trip_unicode() -> None:
    serde = string()
    for text in ["", "hello", "café ☕", "日本語", "\x00"]:
        assert serde.deserialize(serde.serialize(text)) == text
    assert serde.serialize("é") == b"\xc3\xa9"


def test_string_other_encoding() -> None:
    serde = string("latin-1")
    assert serde.serialize("é") == b"\xe9"
    assert serde.deserialize(b"\xe9") == "é"


def test_string_invalid_utf8_names_the_byte_and_suggests_bytes() -> None:
    with pytest.raises(SerializationError) as info:
        string().deserialize(b"ok\xff")
    message = str(info.value)
    assert "not valid utf-8" in message
    assert "at byte 2" in message
    assert "bytes serde" in message


def test_string_refuses_non_str_and_unencodable() -> None:
    with pytest.raises(SerializationError, match="expected str, got 5"):
        string().serialize(5)  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match="cannot be encoded as ascii"):
        string("ascii").serialize("é")


def test_string_unknown_encoding_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown encoding 'utf-99'"):
        string("utf-99")


@pytest.mark.parametrize(
    ("size", "signed", "code"),
    [
        (8, True, ">q"),
        (4, True, ">i"),
        (2, True, ">h"),
        (1, True, ">b"),
        (8, False, ">Q"),
        (4, False, ">I"),
        (2, False, ">H"),
        (1, False, ">B"),
    ],
)
def test_integer_is_big_endian_like_kafka(size: int, signed: bool, code: str) -> None:
    serde = integer(size=size, signed=signed)
    values = [0, 1, 127] + ([-1, -(2 ** (size * 8 - 1))] if signed else [2 ** (size * 8) - 1])
    for value in values:
        data = serde.serialize(value)
        assert data == struct.pack(code, value)
        assert serde.deserialize(data) == value


def test_integer_matches_kafka_long_serializer_bytes() -> None:
    # org.apache.kafka.common.serialization.LongSerializer writes 8 bytes, most significant first.
    assert integer().serialize(1) == b"\x00\x00\x00\x00\x00\x00\x00\x01"
    assert integer().serialize(-2) == b"\xff\xff\xff\xff\xff\xff\xff\xfe"
    assert integer(size=4).serialize(256) == b"\x00\x00\x01\x00"


def test_integer_wrong_size_names_expected_and_actual() -> None:
    with pytest.raises(SerializationError) as info:
        integer().deserialize(b"\x00\x01\x02")
    message = str(info.value)
    assert "expected exactly 8 bytes" in message
    assert "(3 bytes)" in message
    with pytest.raises(SerializationError, match="expected exactly 4 bytes"):
        integer(size=4).deserialize(b"\x00" * 8)


def test_integer_out_of_range_and_wrong_type() -> None:
    with pytest.raises(SerializationError, match=r"range -128\.\.127"):
        integer(size=1).serialize(128)
    with pytest.raises(SerializationError, match="unsigned"):
        integer(size=4, signed=False).serialize(-1)
    with pytest.raises(SerializationError, match=r"1\.5"):
        integer().serialize(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 3, 16, True])
def test_integer_bad_size_is_a_config_error(size: int) -> None:
    with pytest.raises(ConfigError, match="size must be 1, 2, 4 or 8"):
        integer(size=size)


def test_floating_is_big_endian_double_like_kafka() -> None:
    serde = floating()
    assert serde.serialize(1.0) == struct.pack(">d", 1.0)
    for value in [0.0, -0.0, 0.1, 1e308, float("inf"), -3.25]:
        assert serde.deserialize(serde.serialize(value)) == value
    nan = serde.deserialize(serde.serialize(float("nan")))
    assert nan is not None and nan != nan


def test_floating_four_bytes() -> None:
    serde = floating(size=4)
    assert serde.serialize(1.5) == struct.pack(">f", 1.5)
    assert serde.deserialize(struct.pack(">f", 1.5)) == 1.5
    with pytest.raises(SerializationError, match="4-byte"):
        serde.serialize(1e300)


def test_floating_failures() -> None:
    with pytest.raises(SerializationError, match="expected exactly 8 bytes"):
        floating().deserialize(b"\x00" * 4)
    with pytest.raises(SerializationError, match="cannot be packed"):
        floating().serialize("x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="size must be 4 or 8"):
        floating(size=2)


def test_string_decodes_buffers_and_refuses_other_types() -> None:
    assert string().deserialize(memoryview(b"ab")) == "ab"  # type: ignore[arg-type]
    assert string().deserialize(bytearray(b"cd")) == "cd"  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match="expected bytes to decode, got 7"):
        string().deserialize(7)  # type: ignore[arg-type]
