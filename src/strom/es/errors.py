"""Errors of the event store: conflicts, invalid input, unknown event types.

All derive from :class:`strom.errors.EventStoreError` (itself a
:class:`~strom.errors.StromError`), and each names the stream (and version or position) it is
about.

Example:
    >>> from strom.es.errors import ConcurrencyError
    >>> err = ConcurrencyError("order-1", expected=3, actual=5)
    >>> str(err)
    "stream 'order-1': expected version 3, but the stream is at version 5"
    >>> err.stream_id, err.expected, err.actual
    ('order-1', 3, 5)
"""

from __future__ import annotations

from strom.errors import EventStoreError


def describe_expected(expected: object) -> str:
    """How an expected version reads in a message (``version 3``, ``no stream``...)."""
    if isinstance(expected, int):
        return f"version {expected}"
    return str(expected)


class ConcurrencyError(EventStoreError):
    """An append's expected version did not match the stream: another writer got there first.

    Reload the aggregate (or re-read the stream) and decide again.

    Attributes:
        stream_id: the stream appended to.
        expected: the expected version given (an int, or a :class:`~strom.es.StreamState`).
        actual: the stream's version when the append was checked (0: no stream).
    """

    def __init__(self, stream_id: str, *, expected: object, actual: int) -> None:
        now = "does not exist" if actual == 0 else f"is at version {actual}"
        super().__init__(
            f"stream {stream_id!r}: expected {describe_expected(expected)}, but the stream {now}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class InvalidEventError(EventStoreError, ValueError):
    """Bad input to the store: an invalid stream id, expected version, event or size.

    Nothing was written.
    """


class EventTooLargeError(InvalidEventError):
    """An event is larger than the store accepts (``max_event_bytes``). Nothing was written.

    Attributes:
        stream_id: the stream of the append.
        index: the event's index in the append.
        size: its data + metadata size in bytes.
        limit: the store's limit.
    """

    def __init__(self, stream_id: str, *, index: int, event_type: str, size: int, limit: int):
        super().__init__(
            f"stream {stream_id!r}: event #{index} ({event_type}) is {size} bytes of data and "
            f"metadata, over the store's limit of {limit} bytes (max_event_bytes); nothing "
            "was appended"
        )
        self.stream_id = stream_id
        self.index = index
        self.size = size
        self.limit = limit


class UnknownEventError(EventStoreError):
    """A stored event's type or type version is not registered (and no skip was configured).

    Attributes:
        event_type: the stored type name.
        type_version: the stored type version.
        stream_id: where the event is.
        version: its version in the stream.
        position: its global position.
    """

    def __init__(
        self,
        reason: str,
        *,
        event_type: str,
        type_version: int,
        stream_id: str,
        version: int,
        position: int,
    ) -> None:
        super().__init__(
            f"event {event_type} v{type_version} at stream {stream_id!r} version {version} "
            f"(position {position}): {reason}"
        )
        self.event_type = event_type
        self.type_version = type_version
        self.stream_id = stream_id
        self.version = version
        self.position = position


class AggregateNotFoundError(EventStoreError, LookupError):
    """No events for the aggregate (or none up to the requested version or time)."""


__all__ = [
    "AggregateNotFoundError",
    "ConcurrencyError",
    "EventStoreError",
    "EventTooLargeError",
    "InvalidEventError",
    "UnknownEventError",
]
