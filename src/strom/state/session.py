"""The session store: sessions (key, start, end) -> value, for session-window aggregation.

A session is ``[start, end]`` with both ends inclusive (the first and the last record's
time). Merging, as a session-window aggregator does it for a record at ``t`` with gap ``g``:

Example:
    >>> from strom.serde import string, integer
    >>> from strom.state import open_session_store
    >>> store = open_session_store("visits", 0, string(), integer(), segment_interval=60_000)
    >>> store.put("u", 1_000, 2_000, 2); store.put("u", 9_000, 9_000, 1)
    >>> store.find_sessions("u", 5_500 - 4_000, 5_500 + 4_000)   # t=5,500 bridges both
    [(1000, 2000, 2), (9000, 9000, 1)]
    >>> for start, end, _ in store.find_sessions("u", 1_500, 9_500):
    ...     store.remove("u", start, end)
    >>> store.put("u", 1_000, 9_000, 4)
    >>> [(k, s, e, v) for k, s, e, v in store.fetch_all(0, 10_000)]
    [('u', 1000, 9000, 4)]
    >>> store.close()
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from strom.state.codec import MAX_TIME, MIN_TIME
from strom.state.segmented import SegmentedStore

K = TypeVar("K")
V = TypeVar("V")


class SegmentedSessionStore(SegmentedStore[K, V]):
    """A :class:`~strom.state.protocols.SessionStore` over an engine (segments by end)."""

    _what = "session"

    def remove(self, key: K, start: int, end: int) -> None:
        """Remove one session of ``key``."""
        self._delete(key, start, end)

    def find_sessions(
        self, key: K, earliest_session_end: int, latest_session_start: int
    ) -> list[tuple[int, int, V]]:
        """Sessions of ``key`` with ``end >= earliest_session_end`` and
        ``start <= latest_session_start``, by (start, end)."""
        self._check_open()
        where = self._where()
        self._check_time("earliest_session_end", earliest_session_end, where)
        self._check_time("latest_session_start", latest_session_start, where)
        stored = self._stored_of_key(
            self._key_forms(key)[1],
            earliest_session_end,
            min(latest_session_start + self._span, MAX_TIME),
            MIN_TIME,
            latest_session_start,
        )
        stored = {w: d for w, d in stored.items() if w[1] >= earliest_session_end}
        return self._merge_key(
            key,
            stored,
            lambda start, end: end >= earliest_session_end and start <= latest_session_start,
        )

    def fetch_all(self, end_from: int, end_to: int) -> Iterator[tuple[K, int, int, V]]:
        """Sessions of every key with ``end_from <= end <= end_to``, by (end, key, start)."""
        self._check_open()
        where = self._where()
        self._check_time("end_from", end_from, where)
        self._check_time("end_to", end_to, where)
        return self._all_between(end_from, end_to, by_end=True)
