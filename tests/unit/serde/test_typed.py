"""msgspec Struct and dataclass serdes, as JSON and MessagePack."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest

from strom.errors import ConfigError, SerializationError
from strom.serde import dataclass, msgspec_struct


class Order(msgspec.Struct):
    id: int
    item: str
    tags: list[str] = []


@dataclasses.dataclass
class Address:
    city: str


@dataclasses.dataclass
class User:
    name: str
    address: Address
    age: int | None = None


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_struct_round_trip(fmt: str) -> None:
    serde = msgspec_struct(Order, format=fmt)  # type: ignore[arg-type]
    order = Order(1, "book", ["gift"])
    assert serde.deserialize(serde.serialize(order)) == order
    assert serde.serialize(None) is None
    assert serde.deserialize(None) is None


def test_struct_json_bytes() -> None:
    assert msgspec_struct(Order).serialize(Order(1, "pen")) == b'{"id":1,"item":"pen","tags":[]}'


def test_struct_validation_error_names_the_field() -> None:
    with pytest.raises(SerializationError) as info:
        msgspec_struct(Order).deserialize(b'{"id": "one", "item": "pen"}')
    message = str(info.value)
    assert "msgspec_struct(Order)" in message
    assert "$.id" in message


def test_struct_refuses_another_class_on_serialize() -> None:
    with pytest.raises(SerializationError, match=r"expected a Order, got \{'id': 1\}"):
        msgspec_struct(Order).serialize({"id": 1})  # type: ignore[arg-type]


def test_struct_msgpack_rejects_json_bytes() -> None:
    with pytest.raises(SerializationError, match="msgpack"):
        msgspec_struct(Order, format="msgpack").deserialize(b'{"id": 1, "item": "x"}')


def test_struct_factory_rejects_non_structs_and_bad_format() -> None:
    with pytest.raises(ConfigError, match=r"is not a msgspec\.Struct class"):
        msgspec_struct(User)
    with pytest.raises(ConfigError, match="format must be one of json, msgpack"):
        msgspec_struct(Order, format="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_dataclass_round_trip_nested(fmt: str) -> None:
    serde = dataclass(User, format=fmt)  # type: ignore[arg-type]
    user = User("ada", Address("London"), 36)
    assert serde.deserialize(serde.serialize(user)) == user


def test_dataclass_json_shape_and_defaults() -> None:
    serde = dataclass(User)
    assert serde.serialize(User("ada", Address("x"))) == (
        b'{"name":"ada","address":{"city":"x"},"age":null}'
    )
    assert serde.deserialize(b'{"name": "bob", "address": {"city": "Oslo"}}') == User(
        "bob", Address("Oslo")
    )


def test_dataclass_missing_field_is_reported() -> None:
    with pytest.raises(SerializationError, match="address"):
        dataclass(User).deserialize(b'{"name": "bob"}')


def test_dataclass_factory_rejects_non_dataclasses() -> None:
    with pytest.raises(ConfigError, match="is not a dataclass class"):
        dataclass(Order)
    with pytest.raises(ConfigError, match="is not a dataclass class"):
        dataclass(User("a", Address("b")))  # type: ignore[arg-type]
