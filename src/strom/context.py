"""The record being processed, for user functions that need more than its value.

User functions take and return values; when one needs the record's key, timestamp, headers or
position, it calls :func:`current`.

Each runner has its own slot, which it overwrites per record (two attribute stores, no
allocation) and makes the thread's active slot while it processes; :func:`current` copies it
into an immutable :class:`RecordContext` only when asked. Several applications can run in one
process (one per thread, or stepped in turn by one thread).

Example:
    >>> import strom
    >>> from strom.context import current
    >>> app = strom.App("docs-context")
    >>> events, out = app.topic("events"), app.topic("out")
    >>> app.stream(events).map(lambda v: {"value": v, "key": current().key}).to(out)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

from strom.errors import SerializationError, StromError
from strom.log.types import Headers, Record
from strom.serde.base import Serde


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
"""Marks a key not yet decoded from the record's bytes (keys are decoded only when used)."""

NO_RECORD: Final = Record("", 0, 0, None, None, 0)
"""The slot's record between records: typed as a Record so the hot path needs no None check."""


class Slot:
    """The runtime's per-process slot: the input record, its (decoded or replaced) key and the
    serde that decodes the key. Not part of the public API: use :func:`current`."""

    __slots__ = ("key", "key_serde", "record")

    def __init__(self) -> None:
        self.record: Record = NO_RECORD
        self.key: Any = UNSET
        self.key_serde: Serde[Any] | None = None

    def current_key(self) -> Any:
        """The current key, decoding (and caching) the record's key bytes on first use."""
        key = self.key
        if key is UNSET:
            record = self.record
            serde = self.key_serde
            if record is NO_RECORD or serde is None:
                return None
            try:
                key = serde.deserialize(record.key)
            except Exception as exc:
                cause = str(exc) if isinstance(exc, SerializationError) else repr(exc)
                raise SerializationError(
                    f"cannot deserialize the key with the {serde.name!r} serde: {cause}",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                ) from exc
            self.key = key
        return key


SLOT: Final = Slot()
"""The default slot (functions compiled without a runner's own slot use it)."""

_ACTIVE: ContextVar[Slot] = ContextVar("strom_active_slot", default=SLOT)


@contextmanager
def active(slot: Slot) -> Iterator[None]:
    """Make ``slot`` the one :func:`current` reads in this thread (or task) while a runner
    processes records."""
    token = _ACTIVE.set(slot)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


@dataclass(frozen=True, slots=True)
class RecordContext:
    """Metadata of the record being processed.

    Attributes:
        key: the record's key, decoded (after ``key_by``: the new key).
        timestamp: epoch milliseconds.
        headers: ordered (name, bytes) pairs.
        topic: the topic the record was read from.
        partition: its partition.
        offset: its offset.
    """

    key: Any
    timestamp: int
    headers: Headers
    topic: str
    partition: int
    offset: int


def current() -> RecordContext:
    """Metadata of the record being processed, for use inside a user function.

    Raises:
        StromError: when called outside of record processing.
    """
    slot = _ACTIVE.get()
    record = slot.record
    if record is NO_RECORD:
        raise StromError(
            "strom.context.current() was called while no record is being processed; call it "
            "inside a function given to a stream step (map, filter, ...)"
        )
    return RecordContext(
        slot.current_key(),
        record.timestamp,
        record.headers,
        record.topic,
        record.partition,
        record.offset,
    )
