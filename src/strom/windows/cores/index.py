"""The ends of a task's open windows, counted, so that ``advance`` knows in O(log n) whether
anything closes (and scans the store only then).

It is an in-memory cache of the store's contents: rebuilt from the store when the operator
starts (after a restore), never needed for correctness beyond that.

Example:
    >>> from strom.windows.cores.index import EndIndex
    >>> index = EndIndex()
    >>> for end in (30, 10, 10, 20):
    ...     index.add(end)
    >>> index.remove(20)
    >>> index.first(), index.pop_through(15), index.first(), index.pop_through(25)
    (10, True, 30, False)
"""

from __future__ import annotations

from heapq import heappop, heappush


class EndIndex:
    """A multiset of window ends: add, remove, the smallest, drop everything up to a bound."""

    __slots__ = ("_counts", "_heap")

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self._heap: list[int] = []  # distinct ends, possibly stale (removed from _counts)

    def __len__(self) -> int:
        return len(self._counts)

    def add(self, end: int) -> None:
        """One more open window ending at ``end``."""
        count = self._counts.get(end)
        if count is None:
            self._counts[end] = 1
            heappush(self._heap, end)
        else:
            self._counts[end] = count + 1

    def remove(self, end: int) -> None:
        """One window ending at ``end`` is gone (a merged session)."""
        count = self._counts[end] - 1
        if count:
            self._counts[end] = count
            return
        del self._counts[end]
        if len(self._heap) > 2 * len(self._counts) + 64:
            self._heap = sorted(self._counts)  # a sorted list is a heap: drop stale entries

    def first(self) -> int | None:
        """The smallest end, or None."""
        heap, counts = self._heap, self._counts
        while heap and heap[0] not in counts:
            heappop(heap)
        return heap[0] if heap else None

    def pop_through(self, bound: int) -> bool:
        """Forget every end ``<= bound``; True if there was one."""
        heap, counts = self._heap, self._counts
        found = False
        while heap and heap[0] <= bound:
            if counts.pop(heappop(heap), None) is not None:
                found = True
        return found

    def clear(self) -> None:
        """Forget everything."""
        self._counts.clear()
        self._heap.clear()
