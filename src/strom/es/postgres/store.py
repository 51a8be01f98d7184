"""The PostgreSQL event store: psycopg 3 with a connection pool; the production default.

Each append is one round trip (a PL/pgSQL function, see :mod:`strom.es.postgres.schema`);
loading an aggregate is one round trip too (snapshot and events pipelined). Subscriptions wake
on LISTEN/NOTIFY and poll at least every second in case a notification is lost.

Example (needs a server; ``make pg-up`` starts one)::

    store = strom.es.connect("postgresql://strom@127.0.0.1:5432/strom", schema="orders")
    store.append("order-1", [strom.es.NewEvent("Placed", b"{}")], strom.es.NO_STREAM)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import RowMaker
from psycopg_pool import ConnectionPool, PoolTimeout

from strom.errors import EventStoreError
from strom.es.errors import ConcurrencyError
from strom.es.postgres.schema import CONFLICT_SQLSTATE, channel, check_schema, ddl
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
)

_EVENT_COLUMNS = "position, stream_id, version, id, type, type_version, recorded_at, data, metadata"
_MAX = 2**62


def _event_rows(cursor: Any) -> RowMaker[RecordedEvent]:
    return RecordedEvent._make


def _redact(dsn: str) -> str:
    """The DSN without a password, for messages and ``url``."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    if "password" in info:
        info["password"] = "***"
    host, port, db = info.get("host", ""), info.get("port", ""), info.get("dbname", "")
    user = str(info.get("user", ""))
    return f"postgresql://{user + '@' if user else ''}{host}{':' + str(port) if port else ''}/{db}"


class PostgresEventStore:
    """An event store in a PostgreSQL schema of its own.

    Args:
        dsn: a libpq connection string or URL.
        schema: the PostgreSQL schema holding the store's tables (created if missing).
        max_event_bytes: the largest event (data + metadata) accepted.
        pool_size: the most connections the pool opens.
        timeout: seconds to wait for a pooled connection, and for row locks (``lock_timeout``).
        create: create the schema, tables and function when missing.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "strom_es",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        pool_size: int = 4,
        timeout: float = 30.0,
        create: bool = True,
    ) -> None:
        self.schema = check_schema(schema)
        self.max_event_bytes = check_positive("max_event_bytes", max_event_bytes)
        self.url = _redact(dsn)
        self._dsn = dsn
        self._timeout = timeout
        self._channel = channel(self.schema)
        s = self.schema
        self._sql_append = (
            f"SELECT ok, stream_version, last_position FROM {s}.append_events"
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        self._sql_append_one = (
            f"SELECT ok, stream_version, last_position FROM {s}.append_event"
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        self._sql_read = (
            f"SELECT {_EVENT_COLUMNS} FROM {s}.events WHERE stream_id = %s AND version >= %s "
            "AND version <= %s AND recorded_at <= %s ORDER BY version LIMIT %s"
        )
        self._sql_read_all = (
            f"SELECT {_EVENT_COLUMNS} FROM {s}.events WHERE position >= %s "
            "ORDER BY position LIMIT %s"
        )
        self._sql_snapshot = (
            f"SELECT stream_id, version, type, schema_version, recorded_at, data "
            f"FROM {s}.snapshots WHERE stream_id = %s AND type = %s AND schema_version = %s "
            "AND version <= %s AND recorded_at <= %s ORDER BY version DESC LIMIT 1"
        )
        self._sql_after_snapshot = (
            f"SELECT {_EVENT_COLUMNS} FROM {s}.events WHERE stream_id = %s AND version > "
            f"coalesce((SELECT max(version) FROM {s}.snapshots WHERE stream_id = %s "
            "AND type = %s AND schema_version = %s AND version <= %s AND recorded_at <= %s), 0) "
            "AND version <= %s AND recorded_at <= %s ORDER BY version"
        )
        lock_ms = int(timeout * 1000)
        try:
            self._pool = ConnectionPool(
                dsn,
                min_size=1,
                max_size=max(1, pool_size),
                timeout=timeout,
                kwargs={
                    "autocommit": True,
                    "connect_timeout": max(1, int(timeout)),
                    # The order's correctness needs a fresh snapshot per statement inside the
                    # append function: READ COMMITTED, whatever the server's default.
                    "options": f"-c lock_timeout={lock_ms} "
                    "-c default_transaction_isolation=read\\ committed "
                    # Read models of projections land in the store's schema by default.
                    f"-c search_path={s},public",
                },
                open=True,
                name=f"strom-es-{s}",
            )
            self._pool.wait(timeout=timeout)
        except (psycopg.Error, PoolTimeout) as exc:
            raise EventStoreError(
                f"cannot connect to the event store at {self.url}: {exc}"
            ) from exc
        # One LISTEN connection per waiting thread: a connection's notifications cannot be
        # shared between two threads' waits.
        self._listeners: dict[int, psycopg.Connection[Any]] = {}
        self._listener_lock = threading.Lock()
        if create:
            self._create()

    def _create(self) -> None:
        with self._connection() as conn, conn.transaction():
            # Serialize concurrent creators (several processes opening a new store).
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"strom.es:{self.schema}",))
            for statement in ddl(self.schema):
                conn.execute(statement)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise EventStoreError(
                f"{self.url}: no database connection free within {self._timeout}s"
            ) from exc
        except pg_errors.LockNotAvailable as exc:
            raise EventStoreError(
                f"{self.url}: a row lock was not granted within {self._timeout}s: {exc}"
            ) from exc
        except psycopg.OperationalError as exc:
            raise EventStoreError(f"{self.url}: database error: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """A transaction (``psycopg.Connection``, ``%s`` placeholders); committed when the
        block ends normally, rolled back on an exception."""
        with self._connection() as conn, conn.transaction():
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
        snap = (snapshot.type, snapshot.schema_version, snapshot.data) if snapshot else (None,) * 3
        if len(encoded) == 1:
            sql, params = self._sql_append_one, (stream_id, code, *encoded[0], *snap)
        else:
            sql = self._sql_append
            params = (
                stream_id,
                code,
                [e.id for e in encoded],
                [e.type for e in encoded],
                [e.type_version for e in encoded],
                [e.data for e in encoded],
                [e.metadata for e in encoded],
                *snap,
            )
        with self._connection() as conn:
            try:
                row = conn.execute(sql, params).fetchone()
            except psycopg.Error as exc:
                if exc.sqlstate == CONFLICT_SQLSTATE and exc.diag.message_primary is not None:
                    actual = int(exc.diag.message_primary)
                    raise ConcurrencyError(
                        stream_id, expected=expected_version, actual=actual
                    ) from None
                raise
        assert row is not None
        _, version, position = row
        return AppendResult(version, position)

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
        params = (
            stream_id,
            from_version,
            _MAX if to_version is None else to_version,
            _MAX if ts is None else ts,
            None if limit is None else check_positive("limit", limit, minimum=0),
        )
        with self._connection() as conn:
            cur = conn.cursor(binary=True, row_factory=_event_rows)
            return cur.execute(self._sql_read, params).fetchall()

    def read_all(
        self, from_position: int = 1, *, limit: int = READ_ALL_LIMIT
    ) -> list[RecordedEvent]:
        """Events of every stream from ``from_position`` in the global order (see
        EventStore.read_all)."""
        check_positive("from_position", from_position)
        check_positive("limit", limit)
        with self._connection() as conn:
            cur = conn.cursor(binary=True, row_factory=_event_rows)
            return cur.execute(self._sql_read_all, (from_position, limit)).fetchall()

    def last_position(self) -> int:
        """The position of the last event (0 when empty)."""
        with self._connection() as conn:
            row = conn.execute(f"SELECT position FROM {self.schema}.log").fetchone()
        return int(row[0]) if row else 0

    def stream_version(self, stream_id: str) -> int:
        """The stream's version (0 when it does not exist)."""
        check_stream_id(stream_id)
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT max(version) FROM {self.schema}.events WHERE stream_id = %s",
                (stream_id,),
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def streams(self, *, prefix: str = "", limit: int = 1000) -> list[StreamInfo]:
        """Streams whose id starts with ``prefix``, by id."""
        check_positive("limit", limit)
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT st.stream_id, last.version, last.recorded_at "
                f"FROM {self.schema}.streams st CROSS JOIN LATERAL "
                f"(SELECT ev.version, ev.recorded_at FROM {self.schema}.events ev "
                "WHERE ev.stream_id = st.stream_id ORDER BY ev.version DESC LIMIT 1) last "
                "WHERE st.stream_id >= %s AND left(st.stream_id, %s) = %s "
                "ORDER BY st.stream_id LIMIT %s",
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
        """The latest matching snapshot and the events after it, in one round trip."""
        check_stream_id(stream_id)
        check_range(stream_id, 1, to_version)
        ts = as_of_ms(as_of)
        top = _MAX if to_version is None else to_version
        until = _MAX if ts is None else ts
        with self._connection() as conn:
            events_cur = conn.cursor(binary=True, row_factory=_event_rows)
            if snapshot_type is None:
                events = events_cur.execute(self._sql_read, (stream_id, 1, top, until, None))
                return None, events.fetchall()
            snap_cur = conn.cursor(binary=True)
            with conn.pipeline():
                snap_cur.execute(
                    self._sql_snapshot, (stream_id, snapshot_type, schema_version, top, until)
                )
                events_cur.execute(
                    self._sql_after_snapshot,
                    (stream_id, stream_id, snapshot_type, schema_version, top, until, top, until),
                )
            row = snap_cur.fetchone()
            return (Snapshot(*row) if row else None), events_cur.fetchall()

    # --- checkpoints and subscriptions ---------------------------------------------------

    def get_checkpoint(self, name: str, *, tx: SqlTransaction | None = None) -> int:
        """The last position ``name`` processed (0: none); locked until ``tx`` ends."""
        sql = f"SELECT position FROM {self.schema}.checkpoints WHERE name = %s"
        if tx is not None:
            # Create the row first so that FOR UPDATE has something to lock: two runners of one
            # projection then take turns instead of both applying the same events.
            tx.execute(
                f"INSERT INTO {self.schema}.checkpoints VALUES (%s, 0, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (name,),
            )
            row = tx.execute(sql + " FOR UPDATE", (name,)).fetchone()
        else:
            with self._connection() as conn:
                row = conn.execute(sql, (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_checkpoint(self, name: str, position: int, *, tx: SqlTransaction | None = None) -> None:
        """Store ``name``'s checkpoint (in ``tx`` when given)."""
        check_positive("checkpoint position", position, minimum=0)
        sql = (
            f"INSERT INTO {self.schema}.checkpoints (name, position, updated) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "updated = excluded.updated"
        )
        params = (name, position, time.time_ns() // 1_000_000)
        if tx is not None:
            tx.execute(sql, params)
            return
        with self._connection() as conn:
            conn.execute(sql, params)

    def subscribe(
        self, name: str | None = None, *, from_position: int | None = None
    ) -> Subscription:
        """A catch-up subscription (see :class:`~strom.es.subscription.Subscription`)."""
        return Subscription(self, name, from_position=from_position)

    def wait(self, after_position: int, timeout: float) -> bool:
        """Wait for a NOTIFY of an append past ``after_position`` (at most ``timeout`` s)."""
        thread = threading.get_ident()
        with self._listener_lock:
            listener = self._listeners.get(thread)
        if listener is None or listener.closed:
            try:
                listener = psycopg.connect(
                    self._dsn, autocommit=True, connect_timeout=max(1, int(self._timeout))
                )
                listener.execute(f"LISTEN {self._channel}")
            except psycopg.Error as exc:
                raise EventStoreError(f"{self.url}: cannot LISTEN: {exc}") from exc
            with self._listener_lock:
                self._listeners[thread] = listener
        # Checked after LISTEN: an append committed in between is seen here, not lost.
        if self.last_position() > after_position:
            return True
        try:
            for note in listener.notifies(timeout=timeout, stop_after=1):
                if int(note.payload) > after_position:
                    return True
        except psycopg.Error as exc:
            listener.close()
            raise EventStoreError(f"{self.url}: lost the LISTEN connection: {exc}") from exc
        return self.last_position() > after_position

    def close(self) -> None:
        """Close the pool and the listening connection."""
        with self._listener_lock:
            listeners, self._listeners = list(self._listeners.values()), {}
        for listener in listeners:
            listener.close()
        self._pool.close()

    def __enter__(self) -> PostgresEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
