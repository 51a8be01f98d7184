"""The state-store interfaces: key-value, window and session stores over a write buffer.

Every store partition has the same lifecycle, whatever its kind and backend:

1. **open** (``strom.state.open_*_store``): ``store.recovery`` says whether the local copy is
   trusted up to a changelog offset or the store starts empty (wiped, new, or in memory).
2. **restore** the changelog from there (``restore``: records applied straight to storage,
   last write wins, a tombstone deletes).
3. **process**: reads and writes. Writes go to an in-memory *dirty buffer* (the latest value
   per key); reads see it first.
4. **checkpoint**: ``prepare()`` serializes every dirty entry once and returns the changes for
   the changelog topic; ``commit()`` applies them to storage (RocksDB: one ``WriteBatch``) and
   empties the buffer. ``flush()`` does both (at-least-once). Under exactly-once, ``prepare``
   runs inside the transaction and ``commit`` after it committed; an abort calls
   ``discard()``, after which reads return the last committed state. After the input offsets
   are committed, ``write_checkpoint(next changelog offset)``.
5. **close**: uncommitted writes are discarded (they are in no changelog); the RocksDB backend
   writes its checkpoint and "cleanly closed" marker, so the next open trusts the local copy.

Keys are ordered by their **serialized bytes** (unsigned lexicographic), identically in every
backend. Keys must be hashable and equal keys must serialize to equal bytes (true for every
strom serde, except that JSON tells ``1``, ``1.0`` and ``True`` apart while Python does not).

Window and session bounds are integer epoch milliseconds; see ``docs/state.md`` for the storage
layout and the changelog encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, Self, TypeVar

from strom.state.types import Change, Recovery, StoreMetrics

K = TypeVar("K")
V = TypeVar("V")


class StateStore(Protocol):
    """What every store partition has: the write buffer, changelog, restore and checkpoint."""

    @property
    def name(self) -> str:
        """The store's name (derived from the step that owns it; stable across restarts)."""
        ...

    @property
    def partition(self) -> int:
        """The store partition (= the input partition of its task, the changelog partition)."""
        ...

    @property
    def backend(self) -> str:
        """``"memory"`` or ``"rocksdb"``."""
        ...

    @property
    def closed(self) -> bool:
        """True after ``close()``."""
        ...

    @property
    def recovery(self) -> Recovery:
        """What open found: trusted local copy up to an offset, or a full restore (and why)."""
        ...

    @property
    def dirty_count(self) -> int:
        """Entries in the write buffer (not yet committed), so the runtime can bound memory."""
        ...

    def prepare(self) -> list[Change]:
        """Serialize every dirty entry once and return the changes for the changelog.

        The buffer stays readable; writes are refused until ``commit()`` or ``discard()``.
        Calling ``prepare`` again before either returns the same changes.
        """
        ...

    def commit(self) -> None:
        """Apply the prepared changes to storage atomically and empty the buffer."""
        ...

    def flush(self) -> list[Change]:
        """``prepare()`` then ``commit()``: the changes, applied (the at-least-once path)."""
        ...

    def discard(self) -> None:
        """Drop every uncommitted write (an aborted transaction): reads see the last commit."""
        ...

    def restore(self, changes: Iterable[Change]) -> int:
        """Apply changelog records in bulk, straight to storage; return how many were applied.

        Last write wins; a tombstone deletes. The buffer must be empty (restore comes before
        processing).
        """
        ...

    def write_checkpoint(self, offset: int) -> None:
        """Record that the committed state reflects the changelog before ``offset``.

        ``offset`` is the next changelog offset to restore from. RocksDB writes it atomically
        (temporary file, fsync, rename); the memory backend keeps nothing across restarts.
        """
        ...

    def checkpointed_offset(self) -> int | None:
        """The offset of the last checkpoint (from open or ``write_checkpoint``); None if none."""
        ...

    def approximate_count(self) -> int:
        """Entries in the committed state (exact in memory, RocksDB's estimate on disk)."""
        ...

    def metrics(self) -> StoreMetrics:
        """Counts and sizes for the runtime's metrics."""
        ...

    def close(self) -> None:
        """Discard uncommitted writes, release files; RocksDB marks the local copy clean."""
        ...

    def __enter__(self) -> Self:
        """The store itself (``with open_key_value_store(...) as store:``)."""
        ...

    def __exit__(self, *exc: object) -> None:
        """``close()``."""
        ...


class KeyValueStore(StateStore, Protocol[K, V]):
    """Keys to values, typed through the key and value serdes given at open."""

    def get(self, key: K) -> V | None:
        """The value of ``key`` (the buffer's if dirty), or None."""
        ...

    def put(self, key: K, value: V) -> None:
        """Set ``key`` to ``value`` in the buffer (None is refused: use ``delete``)."""
        ...

    def delete(self, key: K) -> None:
        """Delete ``key`` (a tombstone in the buffer, then in the changelog)."""
        ...

    def range(self, lo: K | None = None, hi: K | None = None) -> Iterator[tuple[K, V]]:
        """Entries with ``lo <= key < hi`` in serialized-key order (None: unbounded).

        Buffer and storage merged. Committing or restoring while iterating is not supported.
        """
        ...

    def items(self) -> Iterator[tuple[K, V]]:
        """Every entry in serialized-key order (``range()`` without bounds)."""
        ...


class WindowStore(StateStore, Protocol[K, V]):
    """Values per (key, window start, window end), queried per key or in time order.

    Storage is split into time segments by window end (``segment_interval`` ms); inside a
    segment, entries are ordered by key then start. So ``fetch`` is one seek per segment its
    range touches, ``fetch_all`` reads only the segments of its range, and ``expire`` drops
    whole segments (RocksDB ``delete_range``) and hides the rest of the expired windows.
    """

    def get(self, key: K, start: int, end: int) -> V | None:
        """The value of the window ``[start, end)`` of ``key``, or None."""
        ...

    def put(self, key: K, start: int, end: int, value: V) -> None:
        """Set the value of a window. A window that already expired is refused (StateError)."""
        ...

    def delete(self, key: K, start: int, end: int) -> None:
        """Delete one window of ``key``."""
        ...

    def fetch(self, key: K, time_from: int, time_to: int) -> list[tuple[int, int, V]]:
        """Windows of ``key`` with ``time_from <= start <= time_to``, by (start, end)."""
        ...

    def fetch_all(self, time_from: int, time_to: int) -> Iterator[tuple[K, int, int, V]]:
        """Windows of every key with ``time_from <= start <= time_to``.

        Ordered by start, then serialized key, then end: the order in which to close them.
        """
        ...

    def expire(self, before: int) -> None:
        """Drop every window whose end is before ``before`` (with the next commit).

        Expired windows disappear from reads at once; the changelog gets one control record
        (not one tombstone per window). ``before`` never goes back: a smaller value is a no-op.
        """
        ...

    @property
    def expired_before(self) -> int | None:
        """The expiry horizon in force (including an uncommitted ``expire``), or None."""
        ...


class SessionStore(StateStore, Protocol[K, V]):
    """Sessions (key, start, end) -> value, for session-window aggregation.

    Segmented by session end like :class:`WindowStore`: ``find_sessions`` seeks the key in the
    segments between its bounds, ``fetch_all`` reads segments in end order, ``expire`` drops
    whole segments.
    """

    def get(self, key: K, start: int, end: int) -> V | None:
        """The value of the session ``[start, end]`` of ``key``, or None."""
        ...

    def put(self, key: K, start: int, end: int, value: V) -> None:
        """Set the value of a session. A session that already expired is refused."""
        ...

    def remove(self, key: K, start: int, end: int) -> None:
        """Remove one session of ``key`` (e.g. merged into a bigger one)."""
        ...

    def find_sessions(
        self, key: K, earliest_session_end: int, latest_session_start: int
    ) -> list[tuple[int, int, V]]:
        """Sessions of ``key`` with ``end >= earliest_session_end`` and
        ``start <= latest_session_start``, ordered by (start, end).

        For a record at ``t`` and a gap ``g``: ``find_sessions(key, t - g, t + g)`` returns the
        sessions the record joins or bridges (to merge).
        """
        ...

    def fetch_all(self, end_from: int, end_to: int) -> Iterator[tuple[K, int, int, V]]:
        """Sessions of every key with ``end_from <= end <= end_to``, ordered by end, then
        serialized key, then start: the order in which they close."""
        ...

    def expire(self, before: int) -> None:
        """Drop every session whose end is before ``before`` (with the next commit)."""
        ...

    @property
    def expired_before(self) -> int | None:
        """The expiry horizon in force (including an uncommitted ``expire``), or None."""
        ...
