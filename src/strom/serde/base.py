"""The serializer interface shared by topics, state stores and the CLI."""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


@runtime_checkable
class Serde(Protocol[T]):
    """Turns values into bytes and back.

    ``serialize(None)`` and ``deserialize(None)`` pass None through (tombstones, missing keys).
    Failures raise :class:`~strom.errors.SerializationError` saying what failed; callers that
    know the record's topic/partition/offset re-raise with them attached.
    """

    name: str
    """A short name for messages and the CLI (``json``, ``string``, ``avro``...)."""

    def serialize(self, value: T | None) -> bytes | None:
        """Bytes for ``value`` (None for None)."""
        ...

    def deserialize(self, data: bytes | None) -> T | None:
        """The value for ``data`` (None for None)."""
        ...
