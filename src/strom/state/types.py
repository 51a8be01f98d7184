"""Value types shared by every store: changelog changes, the recovery decision, metrics.

Example:
    >>> from strom.state.types import Recovery
    >>> Recovery.full("no local copy").needs_full_restore
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

Change: TypeAlias = tuple[bytes, bytes | None]
"""One changelog record of a store: ``(key bytes, value bytes)``; value None is a tombstone."""

StoreKind: TypeAlias = Literal["key-value", "window", "session"]
"""The three kinds of store; part of a local copy's identity."""


@dataclass(frozen=True, slots=True)
class Recovery:
    """What opening a store found, and so what the runtime must restore.

    Attributes:
        needs_full_restore: True when the store starts empty and must be restored from the
            beginning of its changelog (a new store, the memory backend, or a local copy that
            was wiped); False when the local copy is trusted up to ``checkpoint_offset``.
        checkpoint_offset: the next changelog offset to restore from when the local copy is
            trusted (None when ``needs_full_restore``).
        wiped: True when a local copy existed and was deleted because it was not trustworthy.
        reason: why, in words, for logs and tests (the path and the check that failed).
    """

    needs_full_restore: bool
    checkpoint_offset: int | None
    wiped: bool
    reason: str

    @classmethod
    def full(cls, reason: str, *, wiped: bool = False) -> Recovery:
        """A store that starts empty and needs the whole changelog."""
        return cls(needs_full_restore=True, checkpoint_offset=None, wiped=wiped, reason=reason)

    @classmethod
    def from_checkpoint(cls, offset: int, reason: str) -> Recovery:
        """A trusted local copy reflecting the changelog up to (not including) ``offset``."""
        return cls(needs_full_restore=False, checkpoint_offset=offset, wiped=False, reason=reason)


@dataclass(frozen=True, slots=True)
class StoreMetrics:
    """Numbers for the runtime's Prometheus gauges and counters (one store partition).

    Attributes:
        store: the store's name.
        partition: the store partition.
        backend: ``"memory"`` or ``"rocksdb"``.
        approximate_count: entries in the committed state (RocksDB: its estimate).
        dirty_count: uncommitted entries in the write buffer.
        disk_bytes: bytes of the local copy on disk (None for the memory backend).
        restored: changelog records applied by ``restore`` since open.
        flushed: changes returned by ``prepare``/``flush`` since open.
    """

    store: str
    partition: int
    backend: str
    approximate_count: int
    dirty_count: int
    disk_bytes: int | None
    restored: int
    flushed: int
