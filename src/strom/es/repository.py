"""Repositories: load aggregates from their streams (with snapshots), save their new events,
and answer temporal and audit questions.

An aggregate ``id`` lives in the stream ``prefix + id`` (the prefix defaults to the class name
and a dash: ``Account-acc-1``). Saving appends the pending events with the version the
aggregate was loaded at as the expected version, so a concurrent change makes the save fail
with :class:`~strom.es.errors.ConcurrencyError` instead of overwriting it;
:meth:`Repository.update` reloads and retries.

Example:
    >>> from dataclasses import dataclass
    >>> import strom.es as es
    >>> @dataclass
    ... class Moved:
    ...     to: str
    >>> class Parcel(es.Aggregate[Moved]):
    ...     at: str
    ...     def __init__(self, id: str) -> None:
    ...         super().__init__(id)
    ...         self.at = "depot"
    ...     def apply(self, event: Moved) -> None:
    ...         self.at = event.to
    ...     def move(self, to: str) -> list[Moved]:
    ...         return self.record(Moved(to))
    >>> parcels = es.Repository(es.connect("sqlite://:memory:"), Parcel,
    ...                         es.EventRegistry().register(Moved), snapshot_policy=es.every(2))
    >>> p = Parcel("p-1")
    >>> _ = p.move("hub"); _ = p.move("van")
    >>> _ = parcels.save(p, metadata=es.metadata(actor="bot-7", reason="route 12"))
    >>> parcels.update("p-1", lambda parcel: parcel.move("door")).at
    'door'
    >>> parcels.load("p-1", version=1).at
    'hub'
    >>> [(h.version, h.type, h.actor) for h in parcels.history("p-1")]
    [(1, 'Moved', 'bot-7'), (2, 'Moved', 'bot-7'), (3, 'Moved', None)]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from strom.es.aggregate import Aggregate
from strom.es.errors import AggregateNotFoundError, ConcurrencyError
from strom.es.registry import SKIPPED, EventRegistry
from strom.es.snapshots import SnapshotPolicy
from strom.es.store import AsOf, EventStore
from strom.es.types import AppendResult, NewSnapshot, RecordedEvent

A = TypeVar("A", bound=Aggregate[Any])


@dataclass(frozen=True)
class HistoryEntry:
    """One event of an aggregate's history, with who, when and why (from its metadata)."""

    version: int
    position: int
    time: dt.datetime
    type: str
    event: Any
    actor: str | None
    reason: str | None
    correlation_id: str | None
    causation_id: str | None
    metadata: dict[str, Any]


class Repository(Generic[A]):
    """Loads and saves aggregates of one class.

    Args:
        store: the event store.
        aggregate_type: the :class:`~strom.es.Aggregate` subclass.
        registry: the event types of its events.
        prefix: stream id prefix (default ``ClassName-``).
        snapshot_policy: when to snapshot on save (e.g. :func:`~strom.es.every` ``(100)``);
            None: never.
        use_snapshots: load from the latest snapshot (True) or always replay everything.
    """

    def __init__(
        self,
        store: EventStore,
        aggregate_type: type[A],
        registry: EventRegistry,
        *,
        prefix: str | None = None,
        snapshot_policy: SnapshotPolicy | None = None,
        use_snapshots: bool = True,
    ) -> None:
        self.store = store
        self.aggregate_type = aggregate_type
        self.registry = registry
        self.prefix = f"{aggregate_type.__name__}-" if prefix is None else prefix
        self.snapshot_policy = snapshot_policy
        self.use_snapshots = use_snapshots
        self.snapshot_type = aggregate_type.__name__

    def stream_id(self, id: str) -> str:
        """The stream of aggregate ``id``."""
        return self.prefix + id

    def load(self, id: str, *, version: int | None = None, as_of: AsOf | None = None) -> A:
        """The aggregate as of now, as of its ``version``, or as of the time ``as_of``.

        Raises:
            AggregateNotFoundError: it has no events (up to those bounds).
            UnknownEventError: an event cannot be decoded (see EventRegistry).
        """
        cls = self.aggregate_type
        snapshot, events = self.store.load(
            self.stream_id(id),
            snapshot_type=self.snapshot_type if self.use_snapshots else None,
            schema_version=cls.snapshot_version,
            to_version=version,
            as_of=as_of,
        )
        aggregate = cls.restore(id, snapshot.version, snapshot.data) if snapshot else cls(id)
        self._apply(aggregate, events)
        if aggregate.version == 0:
            bound = "" if version is None and as_of is None else " within the bounds given"
            raise AggregateNotFoundError(
                f"{cls.__qualname__} {id!r} has no events in stream {self.stream_id(id)!r}{bound}"
            )
        return aggregate

    def _apply(self, aggregate: A, events: list[RecordedEvent]) -> None:
        decode, apply = self.registry.decode, aggregate.apply
        for stored in events:
            event = decode(stored)
            if event is not SKIPPED:
                apply(event)
            aggregate.version = stored.version

    def save(self, aggregate: A, *, metadata: Mapping[str, Any] | None = None) -> AppendResult:
        """Append the aggregate's pending events (with ``metadata`` on each), expecting its
        stream at the version it had before them; snapshot when the policy says so.

        Raises:
            ConcurrencyError: the stream changed since the aggregate was loaded; the pending
                events stay queued.
        """
        pending = aggregate.pending_events
        expected = aggregate.version - len(pending)
        encoded = [self.registry.encode(e, metadata=metadata) for e in pending]
        snapshot = None
        if (
            pending
            and self.snapshot_policy is not None
            and self.snapshot_policy(aggregate, len(pending))
        ):
            snapshot = self.snapshot(aggregate)
        result = self.store.append(
            self.stream_id(aggregate.id), encoded, expected, snapshot=snapshot
        )
        aggregate.collect_events()
        return result

    def snapshot(self, aggregate: A) -> NewSnapshot:
        """A snapshot of ``aggregate``'s state (stored by ``save`` or :meth:`take_snapshot`)."""
        return NewSnapshot(
            self.snapshot_type, type(aggregate).snapshot_version, aggregate.snapshot_state()
        )

    def take_snapshot(self, id: str) -> int:
        """Load ``id`` and store a snapshot of it now; returns the version snapshotted."""
        aggregate = self.load(id)
        self.store.append(
            self.stream_id(id), [], aggregate.version, snapshot=self.snapshot(aggregate)
        )
        return aggregate.version

    def update(
        self,
        id: str,
        command: Callable[[A], object],
        *,
        metadata: Mapping[str, Any] | None = None,
        retries: int = 3,
        create: bool = False,
    ) -> A:
        """Load ``id``, run ``command`` on it and save, retrying up to ``retries`` times on
        a concurrency conflict (the command runs again on the fresh state). With ``create``,
        a missing aggregate starts from its initial state."""
        for attempt in range(retries + 1):
            try:
                aggregate = self.load(id)
            except AggregateNotFoundError:
                if not create:
                    raise
                aggregate = self.aggregate_type(id)
            command(aggregate)
            try:
                self.save(aggregate, metadata=metadata)
                return aggregate
            except ConcurrencyError:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    def history(self, id: str, *, as_of: AsOf | None = None) -> list[HistoryEntry]:
        """Every event of ``id`` (up to ``as_of``) with who, when and why: the audit trail."""
        out = []
        for stored in self.store.read(self.stream_id(id), as_of=as_of):
            meta = stored.metadata
            out.append(
                HistoryEntry(
                    version=stored.version,
                    position=stored.position,
                    time=dt.datetime.fromtimestamp(stored.timestamp / 1000, dt.UTC),
                    type=stored.type,
                    event=self.registry.decode(stored),
                    actor=meta.get("actor"),
                    reason=meta.get("reason"),
                    correlation_id=meta.get("correlation_id"),
                    causation_id=meta.get("causation_id"),
                    metadata=meta,
                )
            )
        return out
