"""Value types of the event store: events to append, recorded events, snapshots, results.

Versions count a stream's events from 1 (a stream at version 0 does not exist); positions
number every event of the store from 1, densely, in the global order. Times are integer epoch
milliseconds, taken by the store when it appends.

Example:
    >>> from strom.es.types import NewEvent, metadata
    >>> event = NewEvent("Deposited", b'{"amount":10}', metadata(actor="alice", reason="salary"))
    >>> event.type, event.metadata["actor"]
    ('Deposited', 'alice')
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from strom.es.errors import EventTooLargeError, InvalidEventError

DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
"""Data + metadata of one event: 1 MiB, what a Kafka topic accepts by default, since events
also flow to topics."""

MAX_STREAM_ID_BYTES = 255


class StreamState(enum.Enum):
    """Expected stream states for :meth:`EventStore.append` besides an exact version.

    ``ANY``: no check. ``NO_STREAM``: the stream must have no events (same as version 0).
    ``STREAM_EXISTS``: the stream must have at least one event.
    """

    ANY = "any"
    NO_STREAM = "no stream"
    STREAM_EXISTS = "an existing stream"

    def __str__(self) -> str:
        return self.value


ANY = StreamState.ANY
NO_STREAM = StreamState.NO_STREAM
STREAM_EXISTS = StreamState.STREAM_EXISTS

ExpectedVersion = int | StreamState
"""An exact version (0 = no stream) or a :class:`StreamState`."""


def metadata(
    *,
    actor: str | None = None,
    reason: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Event metadata for the audit trail: who (``actor``), why (``reason``), and the
    correlation / causation ids that tie events to the request and the event that caused
    them. Keys left None are omitted; ``extra`` keys are kept as given (JSON values).

    Example:
        >>> metadata(actor="alice", correlation_id="req-7", channel="web")
        {'actor': 'alice', 'correlation_id': 'req-7', 'channel': 'web'}
    """
    known = {
        "actor": actor,
        "reason": reason,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
    }
    return {**{k: v for k, v in known.items() if v is not None}, **extra}


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append.

    Attributes:
        type: the event type name (``Deposited``).
        data: the serialized payload (JSON from :class:`~strom.es.EventRegistry`).
        metadata: JSON-serializable audit data (see :func:`metadata`).
        type_version: the version of the event's schema (for upcasting on read).
        id: a unique id; a random UUID when not given.
    """

    type: str
    data: bytes
    metadata: Mapping[str, Any] = field(default_factory=dict)
    type_version: int = 1
    id: uuid.UUID = field(default_factory=uuid.uuid4)


class RecordedEvent(NamedTuple):
    """An event as stored: immutable, in its stream and in the global order.

    Attributes:
        position: its place in the store's global order (1, 2, 3, ... without gaps).
        stream_id: the stream it belongs to.
        version: its place in the stream (1, 2, 3, ...).
        id: its unique id.
        type: the event type name.
        type_version: the schema version it was written with.
        timestamp: when it was appended, epoch milliseconds (non-decreasing in position order).
        data: the serialized payload.
        raw_metadata: the metadata as stored (JSON bytes); :attr:`metadata` decodes it.
    """

    position: int
    stream_id: str
    version: int
    id: uuid.UUID
    type: str
    type_version: int
    timestamp: int
    data: bytes
    raw_metadata: bytes

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata as a dict (decoded on each access)."""
        value = orjson.loads(self.raw_metadata) if self.raw_metadata else {}
        return value if isinstance(value, dict) else {"value": value}


class AppendResult(NamedTuple):
    """What an append did.

    Attributes:
        version: the stream's version after the append.
        position: the global position of the last event appended (or of the store's last
            event when nothing was appended).
    """

    version: int
    position: int


class NewSnapshot(NamedTuple):
    """A snapshot to store with an append (at the stream's version after that append).

    Attributes:
        type: the aggregate type it is a snapshot of.
        schema_version: the aggregate's snapshot schema version; a load ignores snapshots of
            another version.
        data: the serialized state.
    """

    type: str
    schema_version: int
    data: bytes


class Snapshot(NamedTuple):
    """A stored snapshot: an aggregate's state at ``version`` of its stream."""

    stream_id: str
    version: int
    type: str
    schema_version: int
    timestamp: int
    data: bytes


class StreamInfo(NamedTuple):
    """A stream: its id, version (= number of events) and last append time (epoch ms)."""

    stream_id: str
    version: int
    updated: int


def check_stream_id(stream_id: object) -> str:
    """``stream_id`` if valid, else InvalidEventError saying why."""
    if not isinstance(stream_id, str) or not stream_id:
        raise InvalidEventError(f"stream id must be a non-empty string, got {stream_id!r}")
    if "\x00" in stream_id:
        raise InvalidEventError(f"stream id {stream_id!r} contains a NUL character")
    if len(stream_id.encode()) > MAX_STREAM_ID_BYTES:
        raise InvalidEventError(
            f"stream id {stream_id[:40]!r}... is longer than {MAX_STREAM_ID_BYTES} bytes"
        )
    return stream_id


def expected_code(stream_id: str, expected: object) -> int:
    """The expected version as the stores encode it: >= 0 exact, -1 any, -2 exists.

    ``NO_STREAM`` is version 0.
    """
    if isinstance(expected, StreamState):
        return {ANY: -1, NO_STREAM: 0, STREAM_EXISTS: -2}[expected]
    if isinstance(expected, bool) or not isinstance(expected, int):
        raise InvalidEventError(
            f"stream {stream_id!r}: expected_version must be an int >= 0 or ANY / NO_STREAM / "
            f"STREAM_EXISTS, got {expected!r}"
        )
    if expected < 0:
        raise InvalidEventError(
            f"stream {stream_id!r}: expected_version must be >= 0 (0 = no stream), got "
            f"{expected}; use ANY, NO_STREAM or STREAM_EXISTS for the other checks"
        )
    return expected


def expected_matches(code: int, actual: int) -> bool:
    """Whether a stream at version ``actual`` satisfies the encoded expectation."""
    if code == -1:
        return True
    if code == -2:
        return actual > 0
    return actual == code


class EncodedEvent(NamedTuple):
    """A validated event, ready for a backend's insert."""

    id: uuid.UUID
    type: str
    type_version: int
    data: bytes
    metadata: bytes


def encode_events(
    stream_id: str, events: Sequence[NewEvent], max_event_bytes: int
) -> list[EncodedEvent]:
    """Validate ``events`` and encode their metadata; InvalidEventError (nothing written)."""
    if isinstance(events, NewEvent) or not isinstance(events, Sequence):
        raise InvalidEventError(
            f"stream {stream_id!r}: events must be a sequence of NewEvent, got "
            f"{type(events).__name__}"
        )
    out: list[EncodedEvent] = []
    for index, event in enumerate(events):
        if not isinstance(event, NewEvent):
            raise InvalidEventError(
                f"stream {stream_id!r}: event #{index} is a {type(event).__name__}, not a "
                "NewEvent (EventRegistry.encode makes one from a domain event)"
            )
        if not isinstance(event.type, str) or not event.type or "\x00" in event.type:
            raise InvalidEventError(
                f"stream {stream_id!r}: event #{index} has an invalid type {event.type!r}"
            )
        if not isinstance(event.data, bytes | bytearray | memoryview):
            raise InvalidEventError(
                f"stream {stream_id!r}: event #{index} ({event.type}) data must be bytes, got "
                f"{type(event.data).__name__}"
            )
        tv = event.type_version
        if isinstance(tv, bool) or not isinstance(tv, int) or tv < 1:
            raise InvalidEventError(
                f"stream {stream_id!r}: event #{index} ({event.type}) type_version must be an "
                f"int >= 1, got {tv!r}"
            )
        try:
            meta = orjson.dumps(dict(event.metadata)) if event.metadata else b"{}"
        except (TypeError, ValueError) as exc:
            raise InvalidEventError(
                f"stream {stream_id!r}: event #{index} ({event.type}) metadata is not JSON "
                f"serializable: {exc}"
            ) from None
        size = len(event.data) + len(meta)
        if size > max_event_bytes:
            raise EventTooLargeError(
                stream_id, index=index, event_type=event.type, size=size, limit=max_event_bytes
            )
        if not isinstance(event.id, uuid.UUID):
            raise InvalidEventError(
                f"stream {stream_id!r}: event #{index} ({event.type}) id must be a uuid.UUID"
            )
        out.append(EncodedEvent(event.id, event.type, tv, bytes(event.data), meta))
    return out


def check_positive(name: str, value: object, *, minimum: int = 1) -> int:
    """``value`` if it is an int >= ``minimum``, else InvalidEventError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidEventError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value
