"""What a windowed aggregation outputs: :class:`WindowResult`, and :data:`LATE` for a record
that came after every window it belongs to had closed.

Example:
    >>> from strom.windows import WindowResult
    >>> r = WindowResult("user-1", 0, 60_000, 3, 59_999)
    >>> r.key, r.start, r.end, r.value, r.timestamp, r.tombstone
    ('user-1', 0, 60000, 3, 59999, False)
"""

from __future__ import annotations

from typing import Any, NamedTuple


class WindowResult(NamedTuple):
    """One window's result.

    Attributes:
        key: the record key the window belongs to.
        start: the window's start (ms). For count windows: the index of the key's first
            record in the window.
        end: the window's end (ms): exclusive for tumbling and hopping windows; inclusive
            for sliding windows (``[t - size, t]``) and session windows (``[first, last]``).
            For count windows: ``start + n`` (a record index, exclusive).
        value: the aggregation's result (None for a tombstone).
        timestamp: the timestamp for the output record: the last millisecond inside the
            window (``end - 1`` for tumbling and hopping windows, ``end`` for sliding and
            session windows); for count windows, the timestamp of the record that produced
            the result.
        tombstone: True when a session merged into another (emit mode ``"updates"``): the
            results emitted before for ``(key, start, end)`` no longer stand.
    """

    key: Any
    start: int
    end: int
    value: Any
    timestamp: int
    tombstone: bool = False


class Late:
    """The type of :data:`LATE`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "LATE"

    def __reduce__(self) -> str:
        return "LATE"


LATE = Late()
"""Returned by ``process`` for a late record: every window it belongs to had closed, so it was
not aggregated. The runtime counts it and drops it or sends it to the late side output."""
