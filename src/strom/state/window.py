"""The window store: values per (key, window start, window end), per key or in time order.

Example:
    >>> from strom.serde import string, integer
    >>> from strom.state import open_window_store
    >>> store = open_window_store("clicks", 0, string(), integer(), segment_interval=60_000)
    >>> store.put("a", 0, 60_000, 3); store.put("b", 0, 60_000, 1)
    >>> store.put("a", 60_000, 120_000, 5)
    >>> store.fetch("a", 0, 60_000)
    [(0, 60000, 3), (60000, 120000, 5)]
    >>> [(k, s) for k, s, _, _ in store.fetch_all(0, 60_000)]
    [('a', 0), ('b', 0), ('a', 60000)]
    >>> store.expire(60_001)           # windows ending before 60,001 are gone
    >>> store.get("a", 0, 60_000) is None, len(store.flush())
    (True, 2)
    >>> store.close()
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from strom.state.codec import MAX_TIME
from strom.state.segmented import SegmentedStore

K = TypeVar("K")
V = TypeVar("V")


class SegmentedWindowStore(SegmentedStore[K, V]):
    """A :class:`~strom.state.protocols.WindowStore` over an engine.

    Queries select by window start; segments are by window end, so a query for starts in
    ``[a, b]`` reads the segments of ends in ``[a, b + longest span]``.
    """

    _what = "window"

    def delete(self, key: K, start: int, end: int) -> None:
        """Delete one window of ``key``."""
        self._delete(key, start, end)

    def fetch(self, key: K, time_from: int, time_to: int) -> list[tuple[int, int, V]]:
        """Windows of ``key`` with ``time_from <= start <= time_to``, by (start, end)."""
        self._check_open()
        where = self._where()
        self._check_time("time_from", time_from, where)
        self._check_time("time_to", time_to, where)
        stored = self._stored_of_key(
            self._key_forms(key)[1],
            time_from,
            min(time_to + self._span, MAX_TIME),
            time_from,
            time_to,
        )
        return self._merge_key(key, stored, lambda start, end: time_from <= start <= time_to)

    def fetch_all(self, time_from: int, time_to: int) -> Iterator[tuple[K, int, int, V]]:
        """Windows of every key with ``time_from <= start <= time_to``, by (start, key, end)."""
        self._check_open()
        where = self._where()
        self._check_time("time_from", time_from, where)
        self._check_time("time_to", time_to, where)
        return self._all_between(time_from, time_to, by_end=False)
