"""Event sourcing: an event store (PostgreSQL or embedded SQLite), aggregates, repositories,
snapshots, upcasting, projections, an outbox relay to topics, temporal queries and audit.

Example:
    >>> from dataclasses import dataclass
    >>> import strom.es as es
    >>> @dataclass
    ... class Deposited:
    ...     amount: int
    >>> class Account(es.Aggregate[Deposited]):
    ...     balance: int
    ...     def __init__(self, id: str) -> None:
    ...         super().__init__(id)
    ...         self.balance = 0
    ...     def apply(self, event: Deposited) -> None:
    ...         self.balance += event.amount
    ...     def deposit(self, amount: int) -> list[Deposited]:
    ...         return self.record(Deposited(amount))
    >>> registry = es.EventRegistry().register(Deposited)
    >>> accounts = es.Repository(es.connect("sqlite://:memory:"), Account, registry)
    >>> account = Account("acc-1")
    >>> _ = account.deposit(10); _ = account.deposit(5)
    >>> accounts.save(account, metadata=es.metadata(actor="alice"))
    AppendResult(version=2, position=2)
    >>> accounts.load("acc-1").balance
    15
"""

from __future__ import annotations

from typing import Any

from strom.errors import EventStoreError
from strom.es.aggregate import Aggregate
from strom.es.errors import (
    AggregateNotFoundError,
    ConcurrencyError,
    EventTooLargeError,
    InvalidEventError,
    UnknownEventError,
)
from strom.es.outbox import OutboxRelay
from strom.es.projection import Projection, ProjectionRunner
from strom.es.registry import EventRegistry
from strom.es.repository import HistoryEntry, Repository
from strom.es.snapshots import SnapshotPolicy, every
from strom.es.store import EventStore, SqlTransaction, iter_all
from strom.es.subscription import Subscription
from strom.es.types import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    ExpectedVersion,
    NewEvent,
    NewSnapshot,
    RecordedEvent,
    Snapshot,
    StreamInfo,
    StreamState,
    metadata,
)

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Aggregate",
    "AggregateNotFoundError",
    "AppendResult",
    "ConcurrencyError",
    "EventRegistry",
    "EventStore",
    "EventStoreError",
    "EventTooLargeError",
    "ExpectedVersion",
    "HistoryEntry",
    "InvalidEventError",
    "NewEvent",
    "NewSnapshot",
    "OutboxRelay",
    "Projection",
    "ProjectionRunner",
    "RecordedEvent",
    "Repository",
    "Snapshot",
    "SnapshotPolicy",
    "SqlTransaction",
    "StreamInfo",
    "StreamState",
    "Subscription",
    "UnknownEventError",
    "connect",
    "every",
    "iter_all",
    "metadata",
]


def connect(url: str, **options: Any) -> EventStore:
    """Open the event store named by ``url``.

    Args:
        url: ``postgresql://user@host:port/db`` (any libpq URL) or ``sqlite://PATH``
            (``sqlite://:memory:``, ``sqlite://./events.db``, ``sqlite:///var/lib/x.db``).
        options: backend options: ``schema``, ``pool_size``, ``max_event_bytes``, ``timeout``
            for PostgreSQL (:class:`~strom.es.postgres.PostgresEventStore`);
            ``max_event_bytes``, ``synchronous``, ``busy_timeout``, ``poll_interval`` for
            SQLite (:class:`~strom.es.sqlite.SqliteEventStore`).

    Raises:
        InvalidEventError: an unknown URL scheme or an empty path.
        EventStoreError: the database cannot be reached or opened.

    Example:
        >>> store = connect("sqlite://:memory:")
        >>> store.last_position()
        0
        >>> connect("mysql://x")
        Traceback (most recent call last):
        ...
        strom.es.errors.InvalidEventError: event store URL 'mysql://x' has an unknown scheme; ...
    """
    if url.startswith(("postgresql://", "postgres://")):
        from strom.es.postgres import PostgresEventStore

        return PostgresEventStore(url, **options)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if not path:
            raise InvalidEventError("sqlite:// URL needs a path (or :memory:)")
        from strom.es.sqlite import SqliteEventStore

        return SqliteEventStore(path, **options)
    raise InvalidEventError(
        f"event store URL {url!r} has an unknown scheme; use postgresql://... or sqlite://PATH"
    )
