"""The event store interface, implemented by the PostgreSQL and the embedded (SQLite) stores.

One contract suite (``tests/contract/test_event_store_contract.py``) runs against both. Open a
store with :func:`strom.es.connect`.

Guarantees shared by every backend:

* ``append`` is atomic: all of its events or none; the expected version is checked under the
  stream's lock, so of two writers with the same expectation exactly one wins and the other
  gets a :class:`~strom.es.errors.ConcurrencyError`.
* positions are dense (1, 2, 3, ...) and a reader never sees position ``n`` before every
  position below ``n``: ``read_all`` is gap-free and never skips an event that commits late.
* timestamps are taken when the append takes the global order's lock, so they never decrease
  along positions; ``as_of`` reads are consistent with the order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from strom.es.errors import InvalidEventError
from strom.es.types import (
    ANY,
    AppendResult,
    ExpectedVersion,
    NewEvent,
    NewSnapshot,
    RecordedEvent,
    Snapshot,
    StreamInfo,
)

if TYPE_CHECKING:
    from strom.es.subscription import Subscription

AsOf = dt.datetime | int
"""A point in time: an aware ``datetime``, or epoch milliseconds."""

READ_ALL_LIMIT = 1000


@runtime_checkable
class SqlTransaction(Protocol):
    """A database transaction that projections write their read model through: the store's
    own connection (``psycopg.Connection`` on PostgreSQL with ``%s`` placeholders,
    ``sqlite3.Connection`` with ``?``), inside the transaction that also moves the
    projection's checkpoint."""

    def execute(self, query: Any, params: Any = ..., /) -> Any:
        """Run one statement."""
        ...


@runtime_checkable
class EventStore(Protocol):
    """Streams of events with optimistic concurrency, a global order, checkpoints and
    snapshots."""

    url: str
    """The URL the store was opened with (without password)."""

    max_event_bytes: int
    """The largest event (data + metadata bytes) ``append`` accepts."""

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
        *,
        snapshot: NewSnapshot | None = None,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` atomically if the stream is at
        ``expected_version`` (an int, 0 = no stream; or ANY / NO_STREAM / STREAM_EXISTS).

        ``snapshot``, when given, is stored in the same transaction, at the stream's version
        after the append. An empty ``events`` only checks the expectation.

        Raises:
            ConcurrencyError: the stream is not at the expected version (nothing written).
            InvalidEventError: a bad stream id, expected version or event; EventTooLargeError
                for an event over ``max_event_bytes`` (nothing written).
        """
        ...

    def read(
        self,
        stream_id: str,
        from_version: int = 1,
        to_version: int | None = None,
        *,
        as_of: AsOf | None = None,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """Events of a stream with ``from_version <= version <= to_version``, appended no
        later than ``as_of``, in version order (empty for an unknown stream)."""
        ...

    def read_all(
        self, from_position: int = 1, *, limit: int = READ_ALL_LIMIT
    ) -> list[RecordedEvent]:
        """Up to ``limit`` events of every stream from ``from_position`` on, in the global
        order, without gaps."""
        ...

    def last_position(self) -> int:
        """The position of the last event (0 for an empty store)."""
        ...

    def stream_version(self, stream_id: str) -> int:
        """The stream's version (its number of events; 0 when it does not exist)."""
        ...

    def streams(self, *, prefix: str = "", limit: int = 1000) -> list[StreamInfo]:
        """Streams whose id starts with ``prefix``, by id."""
        ...

    def load(
        self,
        stream_id: str,
        *,
        snapshot_type: str | None = None,
        schema_version: int = 1,
        to_version: int | None = None,
        as_of: AsOf | None = None,
    ) -> tuple[Snapshot | None, list[RecordedEvent]]:
        """What rebuilding an aggregate needs, in one round trip: its latest snapshot of
        ``snapshot_type`` and ``schema_version`` (snapshots of other versions are ignored)
        within the bounds, and the events after it up to ``to_version`` / ``as_of``."""
        ...

    def subscribe(
        self, name: str | None = None, *, from_position: int | None = None
    ) -> Subscription:
        """A catch-up subscription: every event from ``from_position`` (default: after the
        durable checkpoint of ``name``, else from the start), then new ones as they commit.
        ``Subscription.commit`` stores ``name``'s checkpoint."""
        ...

    def get_checkpoint(self, name: str, *, tx: SqlTransaction | None = None) -> int:
        """The last position subscriber or projection ``name`` processed (0: none). Inside
        ``tx`` the checkpoint is locked until the transaction ends."""
        ...

    def set_checkpoint(self, name: str, position: int, *, tx: SqlTransaction | None = None) -> None:
        """Store ``name``'s checkpoint, in ``tx`` when given (atomically with a read model)."""
        ...

    def transaction(self) -> AbstractContextManager[SqlTransaction]:
        """A transaction on the store's database, committed when the block ends normally."""
        ...

    def wait(self, after_position: int, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for an event past ``after_position``; True if
        there is one."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def as_of_ms(as_of: AsOf | None) -> int | None:
    """``as_of`` in epoch milliseconds; naive datetimes are refused (ambiguous)."""
    if as_of is None:
        return None
    if isinstance(as_of, dt.datetime):
        if as_of.tzinfo is None:
            raise InvalidEventError(
                f"as_of {as_of.isoformat()} has no time zone; pass an aware datetime "
                "(e.g. datetime.now(timezone.utc)) or epoch milliseconds"
            )
        return int(as_of.timestamp() * 1000)
    if isinstance(as_of, bool) or not isinstance(as_of, int):
        raise InvalidEventError(f"as_of must be a datetime or epoch milliseconds, got {as_of!r}")
    return as_of


def check_range(stream_id: str, from_version: int, to_version: int | None) -> None:
    """InvalidEventError unless ``1 <= from_version`` and ``to_version`` is None or >= 0."""
    if isinstance(from_version, bool) or not isinstance(from_version, int) or from_version < 1:
        raise InvalidEventError(
            f"stream {stream_id!r}: from_version must be an int >= 1, got {from_version!r}"
        )
    if to_version is not None and (
        isinstance(to_version, bool) or not isinstance(to_version, int) or to_version < 0
    ):
        raise InvalidEventError(
            f"stream {stream_id!r}: to_version must be an int >= 0, got {to_version!r}"
        )


def iter_all(
    store: EventStore, from_position: int = 1, *, page: int = READ_ALL_LIMIT
) -> Iterator[RecordedEvent]:
    """Every event from ``from_position`` to the end of the store as it is while reading,
    fetched ``page`` at a time.

    Example:
        >>> import strom.es as es
        >>> store = es.connect("sqlite://:memory:")
        >>> _ = store.append("a-1", [es.NewEvent("Opened", b"{}")])
        >>> _ = store.append("b-1", [es.NewEvent("Opened", b"{}")])
        >>> [(e.position, e.stream_id) for e in iter_all(store)]
        [(1, 'a-1'), (2, 'b-1')]
    """
    position = from_position
    while True:
        batch = store.read_all(position, limit=page)
        yield from batch
        if len(batch) < page:
            return
        position = batch[-1].position + 1
