"""Projections: read models built from the global order, with their checkpoint stored in the
same transaction as the read model, so a crash never applies an event twice or loses one.

A projection is an object with a ``name`` and three methods that receive the store's own
transaction (``psycopg.Connection`` on PostgreSQL, ``sqlite3.Connection`` on SQLite):
``setup`` creates its tables (idempotently), ``reset`` empties them (for a rebuild), and
``handle`` applies one event. On PostgreSQL the connection's ``search_path`` starts with the
store's schema, so unqualified tables of a read model live next to the events.
:class:`ProjectionRunner` reads batches after the checkpoint and, per batch, in one
transaction: locks the checkpoint, applies the events, moves the checkpoint. Two runners of
one projection take turns on that lock.

Example:
    >>> import strom.es as es
    >>> store = es.connect("sqlite://:memory:")
    >>> class Counts:
    ...     name = "counts"
    ...     def setup(self, tx):
    ...         tx.execute("CREATE TABLE IF NOT EXISTS counts (type TEXT PRIMARY KEY, n INT)")
    ...     def reset(self, tx):
    ...         tx.execute("DELETE FROM counts")
    ...     def handle(self, event, tx):
    ...         tx.execute("INSERT INTO counts VALUES (?, 1) ON CONFLICT (type) "
    ...                    "DO UPDATE SET n = n + 1", (event.type,))
    >>> _ = store.append("o-1", [es.NewEvent("Placed", b"{}"), es.NewEvent("Paid", b"{}")])
    >>> _ = store.append("o-2", [es.NewEvent("Placed", b"{}")])
    >>> runner = es.ProjectionRunner(store, Counts())
    >>> runner.run_until_caught_up()
    3
    >>> with store.transaction() as tx:
    ...     tx.execute("SELECT type, n FROM counts ORDER BY type").fetchall()
    [('Paid', 1), ('Placed', 2)]
    >>> runner.rebuild(), runner.position
    (3, 3)
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

from strom.es.errors import InvalidEventError
from strom.es.store import EventStore, SqlTransaction
from strom.es.types import RecordedEvent


@runtime_checkable
class Projection(Protocol):
    """A read model kept in the store's database."""

    name: str
    """Stable name: the checkpoint's key."""

    def setup(self, tx: SqlTransaction) -> None:
        """Create the read model's tables if missing."""
        ...

    def reset(self, tx: SqlTransaction) -> None:
        """Empty the read model (before a rebuild from position 1)."""
        ...

    def handle(self, event: RecordedEvent, tx: SqlTransaction) -> None:
        """Apply one event to the read model."""
        ...


class ProjectionRunner:
    """Feeds a projection from the global order, checkpointing atomically with it.

    Args:
        store: the event store (the read model lives in its database).
        projection: the projection.
        batch_size: events per transaction.
        setup: run ``projection.setup`` now.
    """

    def __init__(
        self,
        store: EventStore,
        projection: Projection,
        *,
        batch_size: int = 500,
        setup: bool = True,
    ) -> None:
        if not isinstance(projection.name, str) or not projection.name:
            raise InvalidEventError(f"projection name must be a non-empty string: {projection!r}")
        self.store = store
        self.projection = projection
        self.name = projection.name
        self.batch_size = batch_size
        self._stop = threading.Event()
        if setup:
            with store.transaction() as tx:
                projection.setup(tx)

    @property
    def position(self) -> int:
        """The last position applied to the read model (its durable checkpoint)."""
        return self.store.get_checkpoint(self.name)

    def run_once(self) -> int:
        """Apply the next batch, if any, in one transaction; returns how many events."""
        after = self.store.get_checkpoint(self.name)
        events = self.store.read_all(after + 1, limit=self.batch_size)
        if not events:
            return 0
        with self.store.transaction() as tx:
            locked = self.store.get_checkpoint(self.name, tx=tx)
            if locked != after:
                # Another runner moved on meanwhile: apply only what it has not.
                events = [e for e in events if e.position > locked]
                if not events:
                    return 0
            for event in events:
                self.projection.handle(event, tx)
            self.store.set_checkpoint(self.name, events[-1].position, tx=tx)
        return len(events)

    def run_until_caught_up(self) -> int:
        """Apply batches until none is left; returns how many events."""
        total = 0
        while n := self.run_once():
            total += n
        return total

    def rebuild(self) -> int:
        """Empty the read model and rebuild it from position 1; returns events applied."""
        with self.store.transaction() as tx:
            self.store.get_checkpoint(self.name, tx=tx)
            self.projection.reset(tx)
            self.store.set_checkpoint(self.name, 0, tx=tx)
        return self.run_until_caught_up()

    def run(self, *, idle_timeout: float | None = None) -> int:
        """Catch up, then follow new events until :meth:`stop` (or ``idle_timeout`` seconds
        without an event); returns events applied."""
        total = 0
        idle_since = time.monotonic()
        while not self._stop.is_set():
            n = self.run_once()
            total += n
            if n:
                idle_since = time.monotonic()
                continue
            if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                break
            self.store.wait(self.position, 1.0 if idle_timeout is None else min(1.0, idle_timeout))
        return total

    def stop(self) -> None:
        """Make :meth:`run` return after its current batch; thread-safe."""
        self._stop.set()
