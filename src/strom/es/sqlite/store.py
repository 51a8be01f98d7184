"""The embedded event store: one SQLite file (the standard library's ``sqlite3``), no server.

Why SQLite rather than the embedded log plus an index: an event store needs an atomic
multi-event append with an expected-version check, a secondary index by stream, and a
checkpoint written in the same transaction as a projection's read model. SQLite gives all
three, across processes, with its write lock (``BEGIN IMMEDIATE``) and WAL readers that never
block writers. On the embedded log the same would need a second index kept consistent with
the segments and a cross-process lock around check-then-append: a database built by hand.

Appends serialize on SQLite's single writer lock and number their events after the last one
(and stamp them no earlier than it), so positions are dense and commit in order:
``read_all`` cannot skip. Durability: WAL with ``synchronous=FULL`` by default (each append is
on disk when it returns); ``synchronous="NORMAL"`` trades the last appends on power loss (not
on a process crash) for speed.

Example:
    >>> import strom.es as es
    >>> store = es.connect("sqlite://:memory:")
    >>> store.append("cart-1", [es.NewEvent("ItemAdded", b'{"sku":"A1"}')], es.NO_STREAM)
    AppendResult(version=1, position=1)
    >>> [(e.version, e.type) for e in store.read("cart-1")]
    [(1, 'ItemAdded')]
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from strom.errors import EventStoreError
from strom.es.errors import ConcurrencyError, InvalidEventError
from strom.es.sqlite.schema import SCHEMA
from strom.es.store import READ_ALL_LIMIT, AsOf, SqlTransaction, as_of_ms, check_range
from strom.es.subscription import Subscription
from strom.es.types import (
    ANY,
    DEFAULT_MAX_EVENT_BYTES,
    AppendResult,
    ExpectedVersion,
    NewEvent,
    NewSnapshot,
    RecordedEvent,
    Snapshot,
    StreamInfo,
    check_positive,
    check_stream_id,
    encode_events,
    expected_code,
    expected_matches,
)

_EVENT_COLUMNS = "position, stream_id, version, id, type, type_version, recorded_at, data, metadata"
_MAX_VERSION = 2**62


_new = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def _uuid(raw: bytes) -> uuid.UUID:
    """``uuid.UUID(bytes=raw)`` at half the cost: the two public attributes that UUID's own
    ``__init__`` sets, without its argument checks (16 bytes written by this store)."""
    value = _new(uuid.UUID)
    _set(value, "int", int.from_bytes(raw, "big"))
    _set(value, "is_safe", _UNKNOWN)
    return value


def _event(row: tuple[Any, ...]) -> RecordedEvent:
    position, stream_id, version, raw_id, type_, type_version, ts, data, meta = row
    return RecordedEvent(
        position, stream_id, version, _uuid(raw_id), type_, type_version, ts, data, meta
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SqliteEventStore:
    """An event store in one SQLite file (or ``:memory:``), safe across threads and processes.

    Args:
        path: the database file (created with its tables), or ``:memory:``.
        max_event_bytes: the largest event (data + metadata) accepted.
        busy_timeout: seconds to wait for another process's write lock before failing.
        synchronous: SQLite's ``synchronous`` setting (``FULL`` or ``NORMAL``).
        poll_interval: seconds between checks for new events while a subscription waits (the
            bound on its delay).
    """

    def __init__(
        self,
        path: str,
        *,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        busy_timeout: float = 30.0,
        synchronous: str = "FULL",
        poll_interval: float = 0.05,
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise InvalidEventError(
                f"synchronous must be FULL, NORMAL or EXTRA, got {synchronous!r}"
            )
        self.url = f"sqlite://{path}"
        self.max_event_bytes = check_positive("max_event_bytes", max_event_bytes)
        self.poll_interval = poll_interval
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            with self._write():
                for statement in SCHEMA:
                    self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise EventStoreError(f"cannot open the SQLite event store {path!r}: {exc}") from exc

    # --- transactions --------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise EventStoreError(
                    f"{self.url}: could not take the write lock: {exc} (another process holds "
                    "it past busy_timeout)"
                ) from exc
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """A write transaction (``sqlite3.Connection``, ``?`` placeholders); committed when
        the block ends normally, rolled back on an exception."""
        with self._write() as conn:
            yield conn

    # --- appends -------------------------------------------------------------------------

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
        *,
        snapshot: NewSnapshot | None = None,
    ) -> AppendResult:
        """Append atomically if the stream is at ``expected_version`` (see EventStore)."""
        check_stream_id(stream_id)
        code = expected_code(stream_id, expected_version)
        encoded = encode_events(stream_id, events, self.max_event_bytes)
        n = len(encoded)
        try:
            with self._write() as conn:
                row = conn.execute(
                    "SELECT version, recorded_at FROM events WHERE stream_id = ? "
                    "ORDER BY version DESC LIMIT 1",
                    (stream_id,),
                ).fetchone()
                current = row[0] if row else 0
                if not expected_matches(code, current):
                    raise ConcurrencyError(stream_id, expected=expected_version, actual=current)
                last_row = conn.execute(
                    "SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1"
                ).fetchone()
                last, last_ts = last_row if last_row else (0, 0)
                if n == 0:
                    if snapshot is not None and current > 0:
                        self._put_snapshot(conn, stream_id, current, row[1], snapshot)
                    return AppendResult(current, last)
                ts = max(_now_ms(), last_ts)
                rows = [
                    (
                        last + i,
                        stream_id,
                        current + i,
                        e.id.bytes,
                        e.type,
                        e.type_version,
                        ts,
                        e.data,
                        e.metadata,
                    )
                    for i, e in enumerate(encoded, 1)
                ]
                insert = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                if n == 1:
                    conn.execute(insert, rows[0])
                else:
                    conn.executemany(insert, rows)
                if current == 0:
                    conn.execute(
                        "INSERT OR IGNORE INTO streams (stream_id, created) VALUES (?, ?)",
                        (stream_id, ts),
                    )
                if snapshot is not None:
                    self._put_snapshot(conn, stream_id, current + n, ts, snapshot)
                return AppendResult(current + n, last + n)
        except sqlite3.Error as exc:
            raise EventStoreError(f"{self.url}: append to {stream_id!r} failed: {exc}") from exc

    @staticmethod
    def _put_snapshot(
        conn: sqlite3.Connection, stream_id: str, version: int, ts: int, snapshot: NewSnapshot
    ) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO snapshots (stream_id, type, schema_version, version, "
            "recorded_at, data) VALUES (?, ?, ?, ?, ?, ?)",
            (stream_id, snapshot.type, snapshot.schema_version, version, ts, snapshot.data),
        )

    # --- reads ---------------------------------------------------------------------------

    def read(
        self,
        stream_id: str,
        from_version: int = 1,
        to_version: int | None = None,
        *,
        as_of: AsOf | None = None,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """Events of a stream in version order (see EventStore.read)."""
        check_stream_id(stream_id)
        check_range(stream_id, from_version, to_version)
        ts = as_of_ms(as_of)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream_id = ? AND version >= ? "
                "AND version <= ? AND recorded_at <= ? ORDER BY version LIMIT ?",
                (
                    stream_id,
                    from_version,
                    _MAX_VERSION if to_version is None else to_version,
                    _MAX_VERSION if ts is None else ts,
                    -1 if limit is None else check_positive("limit", limit, minimum=0),
                ),
            ).fetchall()
        return [_event(r) for r in rows]

    def read_all(
        self, from_position: int = 1, *, limit: int = READ_ALL_LIMIT
    ) -> list[RecordedEvent]:
        """Events of every stream from ``from_position`` in the global order (see
        EventStore.read_all)."""
        check_positive("from_position", from_position)
        check_positive("limit", limit)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE position >= ? ORDER BY position "
                "LIMIT ?",
                (from_position, limit),
            ).fetchall()
        return [_event(r) for r in rows]

    def last_position(self) -> int:
        """The position of the last event (0 when empty)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT position FROM events ORDER BY position DESC LIMIT 1"
            ).fetchone()
        return int(row[0]) if row else 0

    def stream_version(self, stream_id: str) -> int:
        """The stream's version (0 when it does not exist)."""
        check_stream_id(stream_id)
        with self._lock:
            row = self._conn.execute(
                "SELECT max(version) FROM events WHERE stream_id = ?", (stream_id,)
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def streams(self, *, prefix: str = "", limit: int = 1000) -> list[StreamInfo]:
        """Streams whose id starts with ``prefix``, by id."""
        check_positive("limit", limit)
        with self._lock:
            rows = self._conn.execute(
                "SELECT st.stream_id, ev.version, ev.recorded_at FROM streams st "
                "JOIN events ev ON ev.stream_id = st.stream_id AND ev.version = "
                "(SELECT max(version) FROM events WHERE stream_id = st.stream_id) "
                "WHERE st.stream_id >= ? AND substr(st.stream_id, 1, ?) = ? "
                "ORDER BY st.stream_id LIMIT ?",
                (prefix, len(prefix), prefix, limit),
            ).fetchall()
        return [StreamInfo(*r) for r in rows]

    def load(
        self,
        stream_id: str,
        *,
        snapshot_type: str | None = None,
        schema_version: int = 1,
        to_version: int | None = None,
        as_of: AsOf | None = None,
    ) -> tuple[Snapshot | None, list[RecordedEvent]]:
        """The latest matching snapshot and the events after it (see EventStore.load)."""
        check_stream_id(stream_id)
        check_range(stream_id, 1, to_version)
        ts = as_of_ms(as_of)
        top = _MAX_VERSION if to_version is None else to_version
        until = _MAX_VERSION if ts is None else ts
        with self._read() as conn:
            snap = None
            if snapshot_type is not None:
                row = conn.execute(
                    "SELECT stream_id, version, type, schema_version, recorded_at, data "
                    "FROM snapshots WHERE stream_id = ? AND type = ? AND schema_version = ? "
                    "AND version <= ? AND recorded_at <= ? ORDER BY version DESC LIMIT 1",
                    (stream_id, snapshot_type, schema_version, top, until),
                ).fetchone()
                snap = Snapshot(*row) if row else None
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream_id = ? AND version > ? "
                "AND version <= ? AND recorded_at <= ? ORDER BY version",
                (stream_id, snap.version if snap else 0, top, until),
            ).fetchall()
        return snap, [_event(r) for r in rows]

    # --- checkpoints and subscriptions ---------------------------------------------------

    def get_checkpoint(self, name: str, *, tx: SqlTransaction | None = None) -> int:
        """The last position ``name`` processed (0: none)."""
        conn = tx if tx is not None else self._conn
        with self._lock:
            row = conn.execute(
                "SELECT position FROM checkpoints WHERE name = ?", (name,)
            ).fetchone()
        return int(row[0]) if row else 0

    def set_checkpoint(self, name: str, position: int, *, tx: SqlTransaction | None = None) -> None:
        """Store ``name``'s checkpoint (in ``tx`` when given)."""
        check_positive("checkpoint position", position, minimum=0)
        sql = (
            "INSERT INTO checkpoints (name, position, updated) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "updated = excluded.updated"
        )
        if tx is not None:
            tx.execute(sql, (name, position, _now_ms()))
            return
        with self._write() as conn:
            conn.execute(sql, (name, position, _now_ms()))

    def subscribe(
        self, name: str | None = None, *, from_position: int | None = None
    ) -> Subscription:
        """A catch-up subscription (see :class:`~strom.es.subscription.Subscription`)."""
        return Subscription(self, name, from_position=from_position)

    def wait(self, after_position: int, timeout: float) -> bool:
        """Poll every ``poll_interval`` for an event past ``after_position``."""
        deadline = time.monotonic() + timeout
        while True:
            if self.last_position() > after_position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(self.poll_interval, remaining))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
