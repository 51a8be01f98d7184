"""The lifecycle every store shares: write buffer states, prepare/commit/discard, restore,
checkpoint, metrics and close, over an :class:`~strom.state.engine.Engine`.

The buffer has three states. *Open*: reads and writes. *Prepared* (after ``prepare``): the
changes are serialized and handed to the runtime; reads still see the buffer, writes are
refused until ``commit`` (applied) or ``discard`` (dropped), so what reaches storage is exactly
what reached the changelog. *Closed*: everything raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import NoReturn, Self

from strom.errors import StateError, StromError
from strom.state.engine import Engine
from strom.state.types import Change, Recovery, StoreMetrics

log = logging.getLogger("strom.state")

_OPEN, _PREPARED, _CLOSED = "open", "prepared", "closed"


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


TOMBSTONE = _Marker("TOMBSTONE")
"""A delete in the write buffer."""

MISSING = _Marker("MISSING")
"""Not in the write buffer."""


class Prepared:
    """What ``prepare`` computed: changelog records, storage writes, range deletes."""

    __slots__ = ("changelog", "on_commit", "ranges", "storage")

    def __init__(
        self,
        changelog: list[Change],
        storage: list[Change],
        ranges: Sequence[tuple[bytes, bytes]] = (),
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.changelog = changelog
        self.storage = storage
        self.ranges = ranges
        self.on_commit = on_commit


class BufferedStore:
    """Base of every store: subclasses implement the buffer, ``_prepare`` and ``_restore``."""

    def __init__(self, engine: Engine, *, name: str, partition: int) -> None:
        self._engine = engine
        self._name = name
        self._partition = partition
        self._state = _OPEN
        self._writable = True
        self._prepared: Prepared | None = None
        self._restored = 0
        self._flushed = 0
        self._get: Callable[[bytes], bytes | None] = engine.get

    # -- identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The store's name."""
        return self._name

    @property
    def partition(self) -> int:
        """The store partition."""
        return self._partition

    @property
    def backend(self) -> str:
        """``"memory"`` or ``"rocksdb"``."""
        return self._engine.backend

    @property
    def recovery(self) -> Recovery:
        """What open found (trusted local copy up to an offset, or a full restore)."""
        return self._engine.recovery

    @property
    def closed(self) -> bool:
        """True after ``close()``."""
        return self._state == _CLOSED

    def _where(self) -> str:
        return f"store {self._name!r} partition {self._partition} ({self.backend})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._where()} {self._state}>"

    # -- subclass hooks -------------------------------------------------------------------

    def _prepare(self) -> Prepared:
        raise NotImplementedError

    def _restore(self, changes: Iterable[Change]) -> int:
        raise NotImplementedError

    def _clear_buffer(self) -> None:
        raise NotImplementedError

    @property
    def dirty_count(self) -> int:
        """Entries in the write buffer."""
        raise NotImplementedError

    # -- state checks ---------------------------------------------------------------------

    def _refuse_write(self) -> NoReturn:
        if self._state == _CLOSED:
            raise StateError(f"{self._where()} is closed")
        raise StateError(
            f"{self._where()} is prepared: call commit() (changes sent) or discard() "
            "(transaction aborted) before writing again"
        )

    def _check_open(self) -> None:
        if self._state == _CLOSED:
            raise StateError(f"{self._where()} is closed")

    def _closed_get(self, key: bytes) -> bytes | None:
        raise StateError(f"{self._where()} is closed")

    # -- the write-buffer lifecycle -------------------------------------------------------

    def prepare(self) -> list[Change]:
        """Serialize every dirty entry once; return the changes for the changelog."""
        self._check_open()
        if self._prepared is None:
            try:
                prepared = self._prepare()
            except StromError:
                raise
            except (TypeError, ValueError, OverflowError) as exc:
                raise StateError(f"{self._where()}: cannot serialize a dirty entry: {exc}") from exc
            self._prepared = prepared
            self._state = _PREPARED
            self._writable = False
            self._flushed += len(prepared.changelog)
        return list(self._prepared.changelog)

    def commit(self) -> None:
        """Apply the prepared changes to storage atomically and empty the buffer."""
        self._check_open()
        prepared = self._prepared
        if prepared is None:
            if self.dirty_count:
                raise StateError(
                    f"{self._where()}: commit() without prepare(): the changes must be sent to "
                    "the changelog first"
                )
            return
        if prepared.storage or prepared.ranges:
            try:
                self._engine.write(prepared.storage, prepared.ranges)
            except StromError:
                raise
            except Exception as exc:
                raise StateError(
                    f"{self._where()}: writing the committed batch failed: {exc}"
                ) from exc
        if prepared.on_commit is not None:
            prepared.on_commit()
        self._clear_buffer()
        self._prepared = None
        self._state = _OPEN
        self._writable = True

    def flush(self) -> list[Change]:
        """``prepare()`` then ``commit()``; return the changes."""
        changes = self.prepare()
        self.commit()
        return changes

    def discard(self) -> None:
        """Drop every uncommitted write; reads return the last committed state."""
        self._check_open()
        self._clear_buffer()
        self._prepared = None
        self._state = _OPEN
        self._writable = True

    def restore(self, changes: Iterable[Change]) -> int:
        """Apply changelog records straight to storage; return how many were read."""
        self._check_open()
        if self._prepared is not None or self.dirty_count:
            raise StateError(
                f"{self._where()}: restore() with uncommitted writes; restore before processing"
            )
        try:
            count = self._restore(changes)
        except StromError:
            raise
        except Exception as exc:
            raise StateError(f"{self._where()}: restore failed: {exc}") from exc
        self._restored += count
        return count

    # -- checkpoint, metrics, close -------------------------------------------------------

    def write_checkpoint(self, offset: int) -> None:
        """Record the next changelog offset the committed state reflects."""
        self._check_open()
        if type(offset) is not int or offset < 0:
            raise StateError(
                f"{self._where()}: checkpoint offset must be an int >= 0, got {offset!r}"
            )
        self._engine.write_checkpoint(offset)

    def checkpointed_offset(self) -> int | None:
        """The last checkpointed offset, or None."""
        return self._engine.checkpointed_offset()

    def approximate_count(self) -> int:
        """Entries in the committed state."""
        self._check_open()
        return max(0, self._engine.count() - self._meta_count())

    def _meta_count(self) -> int:
        """Stored entries that are the store's own metadata, not data."""
        return 0

    def metrics(self) -> StoreMetrics:
        """Counts and sizes for the runtime's metrics."""
        self._check_open()
        return StoreMetrics(
            store=self._name,
            partition=self._partition,
            backend=self.backend,
            approximate_count=self.approximate_count(),
            dirty_count=self.dirty_count,
            disk_bytes=self._engine.disk_bytes(),
            restored=self._restored,
            flushed=self._flushed,
        )

    def close(self) -> None:
        """Discard uncommitted writes (logged) and close the engine. Idempotent."""
        if self._state == _CLOSED:
            return
        dirty = self.dirty_count
        if dirty:
            log.warning(
                "%s: closing with %d uncommitted writes; they are discarded (not in the changelog)",
                self._where(),
                dirty,
            )
        self._clear_buffer()
        self._prepared = None
        self._state = _CLOSED
        self._writable = False
        self._get = self._closed_get
        self._engine.close()

    def __enter__(self) -> Self:
        """The store itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """``close()``."""
        self.close()
