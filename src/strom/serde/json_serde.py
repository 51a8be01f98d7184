"""The JSON serde: any JSON value with orjson, or a typed model with msgspec.

Example:
    >>> from strom.serde import json
    >>> serde = json()
    >>> serde.serialize({"action": "login", "ok": True})
    b'{"action":"login","ok":true}'
    >>> serde.deserialize(b'[1, 2.5, "x", null]')
    [1, 2.5, 'x', None]
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

import orjson

from strom.errors import SerializationError
from strom.serde._describe import preview
from strom.serde.base import Serde

T = TypeVar("T")


class JsonSerde:
    """Any JSON value: dicts, lists, strings, numbers, booleans (orjson)."""

    __slots__ = ()
    name = "json"

    def serialize(self, value: Any) -> bytes | None:
        """Compact UTF-8 JSON for ``value``."""
        if value is None:
            return None
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError as exc:
            raise SerializationError(
                f"json serde: cannot encode {preview(value)} as JSON: {exc}"
            ) from exc

    def deserialize(self, data: bytes | None) -> Any:
        """The JSON value in ``data``."""
        if data is None:
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SerializationError(
                f"json serde: {preview(data)} is not valid JSON: {exc}"
            ) from exc
        except TypeError as exc:
            raise SerializationError(
                f"json serde: expected bytes to decode, got {preview(data)}"
            ) from exc


@overload
def json() -> Serde[Any]: ...


@overload
def json(model: type[T]) -> Serde[T]: ...


def json(model: type[T] | None = None) -> Serde[Any] | Serde[T]:
    """JSON values. With ``model``, decode into that type and validate it (msgspec).

    ``model`` may be a msgspec Struct, a dataclass, a TypedDict or a builtin generic such as
    ``list[int]`` (needs the ``msgspec`` extra). A JSON ``null`` payload decodes to None,
    like a missing value.

    Example:
        >>> import msgspec
        >>> class Login(msgspec.Struct):
        ...     user: str
        >>> json(model=Login).deserialize(b'{"user": "ada"}')
        Login(user='ada')
        >>> json().deserialize(b'{"user": "ada"}')
        {'user': 'ada'}
    """
    if model is None:
        return JsonSerde()
    from strom.serde.typed import TypedSerde  # msgspec, an extra: imported on first use

    return TypedSerde("json", model, "json", None)
