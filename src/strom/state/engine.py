"""The bytes-level storage under every store: what a backend implements.

Stores (:mod:`strom.state.kv`, :mod:`strom.state.segmented`) own the typed API, the write
buffer and the key layouts; an engine only keeps ordered ``bytes -> bytes`` and applies
batches atomically. So both backends share every line of store semantics, and the contract
suite checks the engines through the same stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from strom.state.types import Change, Recovery


class Engine(Protocol):
    """Ordered bytes storage with atomic batches, for one store partition."""

    backend: str
    """``"memory"`` or ``"rocksdb"``."""

    recovery: Recovery
    """What opening the engine found (trusted local copy or full restore)."""

    get: Callable[[bytes], bytes | None]
    """The stored value of a key, or None (an attribute, so the memory backend can bind
    ``dict.get`` itself: a read costs one dict lookup)."""

    def iterate(self, lo: bytes, hi: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        """Entries with ``lo <= key < hi`` (``hi`` None: to the end), in unsigned byte order.

        The iteration sees the storage as it was when it started.
        """
        ...

    def write(
        self,
        changes: Sequence[Change],
        delete_ranges: Sequence[tuple[bytes, bytes]] = (),
        *,
        bulk: bool = False,
    ) -> None:
        """Apply ``delete_ranges`` (``[lo, hi)``), then ``changes``, atomically.

        ``bulk`` is for restore: RocksDB skips its write-ahead log (the local copy is not
        trusted until a clean close anyway).
        """
        ...

    def count(self) -> int:
        """Stored entries (RocksDB: its estimate)."""
        ...

    def disk_bytes(self) -> int | None:
        """Bytes of the local copy on disk; None without one."""
        ...

    def write_checkpoint(self, offset: int) -> None:
        """Persist the next changelog offset the stored state reflects (if the backend can)."""
        ...

    def checkpointed_offset(self) -> int | None:
        """The last checkpointed offset, from open or ``write_checkpoint``."""
        ...

    def close(self) -> None:
        """Release the storage; a persistent backend marks its local copy cleanly closed."""
        ...
