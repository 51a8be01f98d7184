"""Running a serde on one record's key or value, with the record's position in errors.

Example:
    >>> from strom.serde import json, deserialize_record
    >>> deserialize_record(json(), b'{"a": 1}', topic="orders", partition=0, offset=7)
    {'a': 1}
    >>> deserialize_record(json(), b"{bad", topic="orders", partition=0, offset=8)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    strom.errors.SerializationError: cannot deserialize the value ... offset=8)
"""

from __future__ import annotations

from typing import TypeVar

from strom.errors import SerializationError
from strom.serde.base import Serde

T = TypeVar("T")


def deserialize_record(
    serde: Serde[T],
    data: bytes | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    field: str = "value",
) -> T | None:
    """``serde.deserialize(data)``; any failure becomes a SerializationError naming the record.

    Args:
        serde: the key or value serde.
        data: the record's key or value bytes.
        topic: the record's topic.
        partition: the record's partition.
        offset: the record's offset.
        field: what ``data`` is: ``"key"``, ``"value"`` or a header's name.

    Raises:
        SerializationError: with ``topic``, ``partition`` and ``offset`` set, and the serde's
            own error chained as the cause.
    """
    try:
        return serde.deserialize(data)
    except Exception as exc:  # a user-written serde may raise anything
        raise SerializationError(
            f"cannot deserialize the {field} with the {_serde_name(serde)!r} serde: {_cause(exc)}",
            topic=topic,
            partition=partition,
            offset=offset,
        ) from exc


def serialize_record(
    serde: Serde[T], value: T | None, *, topic: str, field: str = "value"
) -> bytes | None:
    """``serde.serialize(value)``; any failure becomes a SerializationError naming the topic.

    Raises:
        SerializationError: with ``topic`` set and the serde's own error chained as the cause.
    """
    try:
        return serde.serialize(value)
    except Exception as exc:  # a user-written serde may raise anything
        raise SerializationError(
            f"cannot serialize the {field} with the {_serde_name(serde)!r} serde: {_cause(exc)}",
            topic=topic,
        ) from exc


def _serde_name(serde: object) -> str:
    return str(getattr(serde, "name", type(serde).__name__))


def _cause(exc: Exception) -> str:
    if isinstance(exc, SerializationError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
