"""A plain ``dict[bytes, bytes]`` with a lazily sorted key list for ordered reads.

Point reads and writes are one dict operation. The sorted key list is rebuilt only when an
ordered read comes after keys were added or removed: added keys are merged into the previous
list (Timsort merges the two sorted runs in linear time); a removal rebuilds it. A rebuilt
list is a new object, so a running iteration keeps the list it started with.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

from strom.state.types import Change, Recovery


class MemoryEngine:
    """Ordered bytes storage in process memory."""

    backend = "memory"

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self.get: Callable[[bytes], bytes | None] = self._data.get
        self._sorted: list[bytes] = []
        self._added: list[bytes] = []
        self._removed = False
        self._offset: int | None = None
        self.recovery = Recovery.full("memory store: nothing is kept across restarts")

    def _keys(self) -> list[bytes]:
        if self._removed:
            self._sorted = sorted(self._data)
            self._added = []
            self._removed = False
        elif self._added:
            merged = self._sorted + self._added
            merged.sort()
            self._sorted = merged
            self._added = []
        return self._sorted

    def iterate(self, lo: bytes, hi: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        """Entries with ``lo <= key < hi`` in byte order."""
        keys = self._keys()
        data = self._data
        index = bisect_left(keys, lo)
        end = len(keys)
        if hi is not None:
            end = bisect_left(keys, hi, index)
        while index < end:
            key = keys[index]
            index += 1
            value = data.get(key)
            if value is not None:
                yield key, value

    def write(
        self,
        changes: Sequence[Change],
        delete_ranges: Sequence[tuple[bytes, bytes]] = (),
        *,
        bulk: bool = False,
    ) -> None:
        """Apply ``delete_ranges`` then ``changes``."""
        data = self._data
        for lo, hi in delete_ranges:
            keys = self._keys()
            for key in keys[bisect_left(keys, lo) : bisect_left(keys, hi)]:
                del data[key]
                self._removed = True
        added = self._added
        for key, value in changes:
            if value is None:
                if data.pop(key, None) is not None:
                    self._removed = True
            else:
                size = len(data)
                data[key] = value
                if len(data) != size:
                    added.append(key)

    def count(self) -> int:
        """Stored entries (exact)."""
        return len(self._data)

    def disk_bytes(self) -> int | None:
        """None: nothing on disk."""
        return None

    def write_checkpoint(self, offset: int) -> None:
        """Remembered for ``checkpointed_offset`` only: memory does not survive a restart."""
        self._offset = offset

    def checkpointed_offset(self) -> int | None:
        """The last ``write_checkpoint`` of this process."""
        return self._offset

    def close(self) -> None:
        """Drop the data."""
        self._data = {}
        self.get = self._data.get
        self._sorted = []
        self._added = []
        self._removed = False
