"""The JSON serde: any JSON value, typed models, and messages for malformed input."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from strom.errors import ConfigError, SerializationError
from strom.serde import json


@pytest.mark.parametrize(
    "value",
    [{"a": 1, "b": [1, 2.5, "x", None, True]}, [1, 2, 3], "text", 42, 3.5, True, False, {}, []],
)
def test_round_trip_any_json_value(value: Any) -> None:
    serde = json()
    assert serde.deserialize(serde.serialize(value)) == value


def test_serializes_compact_utf8() -> None:
    assert json().serialize({"name": "café", "n": [1, 2]}) == '{"name":"café","n":[1,2]}'.encode()


def test_none_passthrough() -> None:
    assert json().serialize(None) is None
    assert json().deserialize(None) is None


def test_bad_json_names_the_payload_and_position() -> None:
    with pytest.raises(SerializationError) as info:
        json().deserialize(b'{"a": 1,')
    message = str(info.value)
    assert message.startswith("json serde:")
    assert "is not valid JSON" in message
    assert "b'{\"a\": 1,'" in message
    assert "char" in message


def test_long_payload_is_truncated_in_the_message() -> None:
    with pytest.raises(SerializationError) as info:
        json().deserialize(b"x" * 10_000)
    assert "(10000 bytes)" in str(info.value)
    assert len(str(info.value)) < 300


def test_unencodable_value() -> None:
    with pytest.raises(SerializationError, match="cannot encode"):
        json().serialize({"when": object()})


class Login(msgspec.Struct):
    user: str
    attempts: int = 0


def test_typed_model_decodes_and_validates() -> None:
    serde = json(model=Login)
    assert serde.deserialize(b'{"user": "ada"}') == Login("ada", 0)
    assert serde.serialize(Login("bob", 2)) == b'{"user":"bob","attempts":2}'
    with pytest.raises(SerializationError, match=r"does not match the type: .*\$\.attempts"):
        serde.deserialize(b'{"user": "ada", "attempts": "many"}')
    with pytest.raises(SerializationError, match="is malformed"):
        serde.deserialize(b"{")


def test_typed_model_builtin_generic() -> None:
    serde = json(model=list[int])
    assert serde.deserialize(b"[1, 2]") == [1, 2]
    with pytest.raises(SerializationError):
        serde.deserialize(b'["x"]')


def test_typed_model_that_is_not_a_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'user' is not a decodable type"):
        json(model="user")  # type: ignore[call-overload]
