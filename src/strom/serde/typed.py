"""Serdes for typed values: msgspec Structs and dataclasses, as JSON or MessagePack.

Needs the ``msgspec`` extra (``pip install 'strom[msgspec]'``); imported on first use.

Decoding validates against the type (msgspec), so a payload that does not match it fails with
the path of the offending field.

Example:
    >>> import msgspec
    >>> from strom.serde import msgspec_struct
    >>> class Order(msgspec.Struct):
    ...     id: int
    ...     item: str
    >>> serde = msgspec_struct(Order)
    >>> serde.serialize(Order(1, "book"))
    b'{"id":1,"item":"book"}'
    >>> serde.deserialize(b'{"id":2,"item":"pen"}')
    Order(id=2, item='pen')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

from strom.errors import ConfigError, SerializationError
from strom.serde._describe import preview
from strom.serde.base import Serde
from strom.serde.extras import missing

try:
    import msgspec
except ImportError as _exc:
    raise missing(
        "msgspec", "msgspec", "typed serdes (msgspec_struct, dataclass, json(model))"
    ) from _exc

T = TypeVar("T")

Format = Literal["json", "msgpack"]
FORMATS: tuple[Format, ...] = ("json", "msgpack")


def type_name(tp: Any) -> str:
    """A readable name of a type or type expression (``Order``, ``list[int]``)."""
    return getattr(tp, "__qualname__", None) or repr(tp)


class TypedSerde(Generic[T]):
    """Encodes with msgspec and decodes into ``tp``, validating as it goes.

    When ``instance_of`` is given, :meth:`serialize` refuses values of another class, so a
    wrong object fails where it is produced rather than where it is consumed.
    """

    __slots__ = ("_decode", "_encode", "_instance_of", "_what", "name")

    _encode: Callable[[Any], bytes]
    _decode: Callable[[Any], Any]

    def __init__(self, name: str, tp: Any, fmt: Format, instance_of: type | None) -> None:
        try:
            if fmt == "json":
                self._encode = msgspec.json.Encoder().encode
                self._decode = msgspec.json.Decoder(tp).decode
            elif fmt == "msgpack":
                self._encode = msgspec.msgpack.Encoder().encode
                self._decode = msgspec.msgpack.Decoder(tp).decode
            else:
                raise ConfigError(
                    f"{name} serde: format must be one of {', '.join(FORMATS)}, got {fmt!r}"
                )
        except TypeError as exc:
            raise ConfigError(
                f"{name} serde: {type_name(tp)} is not a decodable type: {exc}"
            ) from None
        self._instance_of = instance_of
        self._what = f"{name}({type_name(tp)}) serde ({fmt})"
        self.name = name

    def serialize(self, value: T | None) -> bytes | None:
        """``value`` encoded."""
        if value is None:
            return None
        if self._instance_of is not None and not isinstance(value, self._instance_of):
            raise SerializationError(
                f"{self._what}: expected a {type_name(self._instance_of)}, got {preview(value)}"
            )
        try:
            return self._encode(value)
        except (msgspec.EncodeError, TypeError, OverflowError) as exc:
            raise SerializationError(
                f"{self._what}: cannot encode {preview(value)}: {exc}"
            ) from exc

    def deserialize(self, data: bytes | None) -> T | None:
        """``data`` decoded and validated."""
        if data is None:
            return None
        try:
            return self._decode(data)  # type: ignore[no-any-return]
        except msgspec.ValidationError as exc:
            raise SerializationError(
                f"{self._what}: {preview(data)} does not match the type: {exc}"
            ) from exc
        except (msgspec.DecodeError, TypeError) as exc:
            raise SerializationError(f"{self._what}: {preview(data)} is malformed: {exc}") from exc


def msgspec_struct(struct_type: type[T], *, format: Format = "json") -> Serde[T]:
    """A :class:`msgspec.Struct` type as JSON (default) or MessagePack (``format="msgpack"``).

    Raises:
        ConfigError: ``struct_type`` is not a msgspec Struct class, or ``format`` is unknown.

    Example:
        >>> import msgspec
        >>> class Point(msgspec.Struct):
        ...     x: int
        ...     y: int
        >>> packed = msgspec_struct(Point, format="msgpack")
        >>> packed.deserialize(packed.serialize(Point(1, 2)))
        Point(x=1, y=2)
    """
    if not (isinstance(struct_type, type) and issubclass(struct_type, msgspec.Struct)):
        raise ConfigError(
            f"msgspec_struct serde: {type_name(struct_type)} is not a msgspec.Struct class; "
            "use dataclass() for dataclasses or json() for plain values"
        )
    return TypedSerde("msgspec_struct", struct_type, format, struct_type)


def dataclass(dataclass_type: type[T], *, format: Format = "json") -> Serde[T]:
    """A dataclass type as a JSON object (default) or MessagePack map.

    Field types are validated on decode (nested dataclasses, lists, optionals...).

    Raises:
        ConfigError: ``dataclass_type`` is not a dataclass class, or ``format`` is unknown.

    Example:
        >>> from dataclasses import dataclass as dc
        >>> @dc
        ... class User:
        ...     name: str
        ...     age: int = 0
        >>> serde = dataclass(User)
        >>> serde.serialize(User("ada", 36))
        b'{"name":"ada","age":36}'
        >>> serde.deserialize(b'{"name":"bob"}')
        User(name='bob', age=0)
    """
    if not (isinstance(dataclass_type, type) and dataclasses.is_dataclass(dataclass_type)):
        raise ConfigError(
            f"dataclass serde: {type_name(dataclass_type)} is not a dataclass class; "
            "decorate it with @dataclasses.dataclass"
        )
    return TypedSerde("dataclass", dataclass_type, format, dataclass_type)
