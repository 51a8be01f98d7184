"""MySQL/MariaDB change capture from the binlog (``pymysqlreplication``), Debezium's way.

First run (no stored position): a consistent snapshot of the tables together with its binlog
position (see :mod:`strom.cdc.mysql.snapshot`), then the binlog from that position. Later runs
resume from the stored position: binlog file and offset by default, or the GTID position on
MariaDB (``resume="gtid"``), which survives a failover to a replica with the same GTIDs.

The binlog is read by a thread that blocks on the replication connection and hands changes to
:meth:`MySqlSource.poll` through a bounded queue. Checkpoints sit after each commit (``Xid``,
``COMMIT``) and each DDL statement. A binlog server keeps no per-reader state, so
:meth:`MySqlSource.acknowledge` has nothing to tell it: the stored position is the whole truth.

Example (needs a server, so not run here)::

    source = MySqlSource("mysql://strom:secret@127.0.0.1:3306/shop",
                         SourceSettings(tables=("shop.orders",)))
"""

from __future__ import annotations

import logging
import queue
import random
import re
import threading
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from strom.cdc.connect import Schema, field, primitive
from strom.cdc.errors import CdcError, PositionLostError, SourceUnavailableError
from strom.cdc.model import Change, Checkpoint, Item
from strom.cdc.mysql import tables as my_tables
from strom.cdc.mysql.snapshot import SnapshotReader, start_snapshot
from strom.cdc.source import SourceSettings
from strom.errors import ConfigError, UnsupportedError

log = logging.getLogger("strom.cdc.mysql")

Resume = Literal["position", "gtid"]
_DDL = re.compile(r"^\s*(ALTER|CREATE|DROP|RENAME|TRUNCATE)\b", re.IGNORECASE)
_TRUNCATE = re.compile(r"^\s*TRUNCATE\s+(?:TABLE\s+)?([`\w.$]+)", re.IGNORECASE)
_QUEUE_ITEMS = 20_000


def source_fields() -> list[Schema]:
    """The MySQL-specific fields of Debezium's ``source`` block."""
    return [
        field("table", primitive("string")),
        field("server_id", primitive("int64", optional=False)),
        field("gtid", primitive("string")),
        field("file", primitive("string", optional=False)),
        field("pos", primitive("int64", optional=False)),
        field("row", primitive("int32", optional=False)),
        field("thread", primitive("int64")),
        field("query", primitive("string")),
    ]


def connection_settings(dsn: str) -> dict[str, Any]:
    """PyMySQL connection arguments of ``mysql://user:password@host:port/database``."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("mysql", "mariadb"):
        raise ConfigError(f"cdc: {redact(dsn)} is not a mysql:// or mariadb:// URL")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/") or None,
        "charset": "utf8mb4",
        "connect_timeout": 10,
    }


def redact(dsn: str) -> str:
    """``dsn`` without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class MySqlSource:
    """Binlog capture from one MySQL or MariaDB server (see the module docs).

    Args:
        dsn: ``mysql://user:password@host:port/database`` (``mariadb://`` too).
        settings: tables (``database.table``), snapshot mode, missing-key fallback.
        server_id: the replica id this reader registers with (unique among the server's
            replicas; random by default).
        resume: ``position`` (binlog file and offset) or ``gtid`` (MariaDB GTID position).
    """

    def __init__(
        self,
        dsn: str,
        settings: SourceSettings,
        *,
        server_id: int | None = None,
        resume: Resume = "position",
    ) -> None:
        if resume not in ("position", "gtid"):
            raise ConfigError(f"cdc: resume must be 'position' or 'gtid', got {resume!r}")
        self.dsn = dsn
        self.settings = settings
        self.resume = resume
        self.server_id = server_id or random.randint(100_000, 4_000_000)
        self._conn_settings = connection_settings(dsn)
        self.database = self._conn_settings["database"] or settings.tables[0].split(".")[0]
        self.connector = "mysql"
        self.source_schema_name = "io.debezium.connector.mysql.Source"
        self.source_fields = source_fields()
        self.mariadb = False
        self._wanted = {tuple(t.split(".", 1)) for t in settings.tables}
        self._tables: dict[tuple[str, str], my_tables.CapturedTable | None] = {}
        self._snapshot: SnapshotReader | None = None
        self._snapshot_position: dict[str, Any] | None = None
        self._queue: queue.Queue[Item | _Failed] = queue.Queue(_QUEUE_ITEMS)
        self._thread: threading.Thread | None = None
        self._stream: BinLogStreamReader | None = None
        self._stop = threading.Event()
        self._ctl: Any = None
        self._gtid = _GtidState(None)
        self._file: str | None = None

    # --- start-up ---------------------------------------------------------------------------

    def _connect(self) -> Any:
        try:
            conn = pymysql.connect(**{**self._conn_settings, "autocommit": True})
        except pymysql.err.OperationalError as exc:
            raise SourceUnavailableError(f"cannot connect to {redact(self.dsn)}: {exc}") from exc
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
        return conn

    def start(self, stored: dict[str, Any] | None) -> None:
        """Check the server, then snapshot or resume (see the module docs)."""
        try:
            self._start(stored)
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
            raise SourceUnavailableError(
                f"{redact(self.dsn)} failed during start-up: {exc}"
            ) from exc
        except pymysql.err.MySQLError as exc:
            raise CdcError(f"{redact(self.dsn)} refused a start-up step: {exc}") from exc

    def _start(self, stored: dict[str, Any] | None) -> None:
        self._stop.clear()
        self._tables.clear()
        self._ctl = self._connect()
        cur = self._ctl.cursor()
        cur.execute("SELECT VERSION()")
        self.mariadb = "mariadb" in str(cur.fetchone()[0]).lower()
        if self.mariadb:
            self.connector = "mariadb"
            self.source_schema_name = "io.debezium.connector.mariadb.Source"
        self._check_server(cur)
        targets = []
        for qualified in self.settings.tables:
            database, name = qualified.split(".", 1)
            captured = my_tables.load(cur, database, name, self.settings.missing_key)
            if captured is None:
                raise ConfigError(f"cdc: table {database}.{name} does not exist")
            self._tables[(database, name)] = captured
            targets.append(captured)
        if stored is None and self.settings.snapshot == "initial":
            conn = self._connect()
            conn.autocommit(False)
            file, pos, gtid = start_snapshot(conn, self.mariadb)
            self._snapshot_position = {"file": file, "pos": pos, "gtid": gtid, "snapshot": "done"}
            server = self._server_id_of_server(cur)
            self._snapshot = SnapshotReader(
                conn, targets, file, pos, server, self.settings.snapshot_fetch
            )
            log.info("snapshot of %d table(s) at %s:%d", len(targets), file, pos)
            return
        if stored is None:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
            stored = {"file": row[0], "pos": int(row[1]), "gtid": None}
            if self.mariadb:
                cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (row[0], int(row[1])))
                stored["gtid"] = cur.fetchone()[0] or None
        self._check_position(cur, stored)
        self._start_stream(stored)

    def _server_id_of_server(self, cur: Any) -> int:
        cur.execute("SELECT @@server_id")
        return int(cur.fetchone()[0])

    def _check_server(self, cur: Any) -> None:
        cur.execute(
            "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, "
            + ("@@binlog_row_metadata" if self._has_row_metadata(cur) else "'FULL'")
        )
        log_bin, fmt, image, metadata = cur.fetchone()
        problems = []
        if str(log_bin) not in ("1", "ON"):
            problems.append("the binlog is off (start the server with --log-bin)")
        if str(fmt).upper() != "ROW":
            problems.append(f"binlog_format is {fmt} (needs ROW)")
        if str(image).upper() != "FULL":
            problems.append(f"binlog_row_image is {image} (needs FULL)")
        if str(metadata).upper() != "FULL":
            problems.append(f"binlog_row_metadata is {metadata} (needs FULL: column names)")
        if problems:
            raise ConfigError(f"cdc: {redact(self.dsn)} cannot be captured: " + "; ".join(problems))

    @staticmethod
    def _has_row_metadata(cur: Any) -> bool:
        cur.execute("SHOW VARIABLES LIKE 'binlog_row_metadata'")
        return cur.fetchone() is not None

    def _check_position(self, cur: Any, stored: dict[str, Any]) -> None:
        cur.execute("SHOW BINARY LOGS")
        files = {row[0] for row in cur.fetchall()}
        if self.resume == "gtid" and stored.get("gtid"):
            return
        if stored.get("file") not in files:
            raise PositionLostError(
                f"binlog file {stored.get('file')!r} of the stored position is no longer on "
                f"{redact(self.dsn)} (purged?): changes since may be lost. Run `strom cdc "
                "forget --name NAME` to forget the position, then run again to take a new "
                "snapshot."
            )

    def _start_stream(self, position: dict[str, Any]) -> None:
        settings = {k: v for k, v in self._conn_settings.items() if k != "database"}
        kwargs: dict[str, Any] = {}
        if self.resume == "gtid":
            if not self.mariadb:
                raise UnsupportedError(
                    "cdc: resuming by GTID is implemented for MariaDB; on MySQL use "
                    "resume='position'"
                )
            kwargs = {"is_mariadb": True, "auto_position": position.get("gtid")}
        else:
            kwargs = {"log_file": position["file"], "log_pos": int(position["pos"])}
        self._gtid = _GtidState(position.get("gtid"))
        self._file = position.get("file")
        self._stream = BinLogStreamReader(
            connection_settings=settings,
            server_id=self.server_id,
            blocking=True,
            resume_stream=True,
            slave_heartbeat=5,
            only_events=[
                WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent,
                RotateEvent, MariadbGtidEvent, GtidEvent,
            ],
            only_schemas=sorted({db for db, _ in self._wanted}),
            enable_logging=False,
            **kwargs,
        )  # fmt: skip
        self._thread = threading.Thread(
            target=self._read_binlog, name="strom-cdc-binlog", daemon=True
        )
        self._thread.start()
        log.info("streaming the binlog from %s", position)

    # --- the binlog thread ------------------------------------------------------------------

    def _put(self, item: Item | _Failed) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _read_binlog(self) -> None:
        stream = self._stream
        assert stream is not None
        thread_id: int | None = None
        try:
            for event in stream:
                if self._stop.is_set():
                    return
                if isinstance(event, RotateEvent):
                    self._file = event.next_binlog
                elif isinstance(event, MariadbGtidEvent | GtidEvent):
                    self._gtid.add(str(event.gtid))
                elif isinstance(event, XidEvent):
                    self._put(Checkpoint(self._position(stream)))
                elif isinstance(event, QueryEvent):
                    query = event.query.strip() if isinstance(event.query, str) else ""
                    if query.upper() == "BEGIN":
                        thread_id = getattr(event, "slave_proxy_id", None)
                    elif query.upper() == "COMMIT":
                        self._put(Checkpoint(self._position(stream)))
                    elif _DDL.match(query):
                        for item in self._ddl(event, query, stream):
                            self._put(item)
                        self._put(Checkpoint(self._position(stream)))
                else:
                    for change in self._rows(event, stream, thread_id):
                        self._put(change)
        except BaseException as exc:
            if not self._stop.is_set():
                self._put(_Failed(exc))

    def _position(self, stream: BinLogStreamReader) -> dict[str, Any]:
        return {"file": stream.log_file, "pos": int(stream.log_pos), "gtid": self._gtid.text()}

    def _table(self, database: str, name: str) -> my_tables.CapturedTable | None:
        key = (database, name)
        if key not in self._wanted:
            return None
        if key not in self._tables or self._tables[key] is None:
            with self._ctl.cursor() as cur:
                self._tables[key] = my_tables.load(cur, database, name, self.settings.missing_key)
        return self._tables[key]

    def _source(
        self,
        event: Any,
        stream: BinLogStreamReader,
        table: str | None,
        row: int,
        thread: int | None,
    ) -> dict[str, Any]:
        schema = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
        return {
            "db": schema,
            "table": table,
            "server_id": int(event.packet.server_id),
            "gtid": self._gtid.current,
            "file": stream.log_file,
            "pos": int(event.packet.log_pos),
            "row": row,
            "thread": thread,
            "query": None,
        }

    def _rows(self, event: Any, stream: BinLogStreamReader, thread: int | None) -> list[Change]:
        captured = self._table(event.schema, event.table)
        if captured is None:
            return []
        names = tuple(c.name for c in event.columns)
        if names != tuple(c.name for c in captured.table.columns):
            # information_schema is ahead of (or behind) this event: DDL happened since. The
            # event's own columns (binlog_row_metadata=FULL) are the truth for its rows.
            captured = captured.restricted_to(names)
        ts_us = int(event.timestamp) * 1_000_000
        where = f"binlog {stream.log_file}:{event.packet.log_pos}"
        out = []
        for index, row in enumerate(event.rows):
            source = self._source(event, stream, event.table, index, thread)
            if isinstance(event, WriteRowsEvent):
                after = captured.row(_values(row, "values", "none_sources"), where=where)
                out.append(Change(captured.table, "c", None, after, source, ts_us))
            elif isinstance(event, DeleteRowsEvent):
                before = captured.row(_values(row, "values", "none_sources"), where=where)
                out.append(Change(captured.table, "d", before, None, source, ts_us))
            else:
                before = captured.row(
                    _values(row, "before_values", "before_none_sources"), where=where
                )
                after = captured.row(
                    _values(row, "after_values", "after_none_sources"), where=where
                )
                table = captured.table
                if table.key and table.key_of(before) != table.key_of(after):
                    out.append(Change(table, "d", before, None, source, ts_us))
                    out.append(Change(table, "c", None, after, dict(source), ts_us))
                else:
                    out.append(Change(table, "u", before, after, source, ts_us))
        return out

    def _ddl(self, event: Any, query: str, stream: BinLogStreamReader) -> list[Change]:
        database = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
        for key in [k for k in self._tables if k[0] == database]:
            self._tables[key] = None  # re-read from information_schema on next use
        match = _TRUNCATE.match(query)
        if match is None:
            return []
        name = match.group(1).replace("`", "")
        db, _, table = name.rpartition(".")
        captured = self._table(db or database, table)
        if captured is None:
            return []
        source = self._source(event, stream, table, 0, None)
        source["db"] = captured.table.database  # the statement's default database may differ
        return [Change(captured.table, "t", None, None, source, int(event.timestamp) * 1_000_000)]

    # --- the engine's side ------------------------------------------------------------------

    def poll(self, max_items: int, timeout: float) -> list[Item]:
        """Snapshot rows first, then the binlog's changes and checkpoints."""
        if self._snapshot is not None:
            snapshot = self._snapshot
            items: list[Item] = list(snapshot.read(max_items))
            if snapshot.done:
                log.info("snapshot done: %d row(s)", snapshot.rows_read)
                self._snapshot = None
                assert self._snapshot_position is not None
                items.append(Checkpoint(dict(self._snapshot_position)))
                self._start_stream(self._snapshot_position)
            return items
        out: list[Item] = []
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return out
        pending: list[Item | _Failed] = [first]
        while len(pending) < max_items:
            try:
                pending.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for item in pending:
            if isinstance(item, _Failed):
                raise self._translate(item.error)
            out.append(item)
        return out

    def _translate(self, exc: BaseException) -> Exception:
        if isinstance(exc, pymysql.err.OperationalError) and exc.args and exc.args[0] == 1236:
            return PositionLostError(
                f"the binlog position is no longer available on {redact(self.dsn)}: {exc}"
            )
        if isinstance(exc, (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)):
            return SourceUnavailableError(f"binlog connection to {redact(self.dsn)} failed: {exc}")
        if isinstance(exc, CdcError):
            return exc
        return CdcError(f"reading the binlog of {redact(self.dsn)} failed: {exc!r}")

    def acknowledge(self, position: dict[str, Any]) -> None:
        """Nothing to tell a binlog server: the stored position is what resumes."""

    def close(self) -> None:
        """Stop the binlog thread and close the connections."""
        self._stop.set()
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None
        if self._stream is not None:
            # The binlog thread blocks in a socket read: ending the server side of its
            # connection wakes it at once (pymysqlreplication offers no other way).
            conn = getattr(self._stream, "_stream_connection", None)
            if conn is not None and conn.open:
                try:
                    killer = self._connect()
                    try:
                        with killer.cursor() as cur:
                            cur.execute(f"KILL CONNECTION {int(conn.thread_id())}")
                    finally:
                        killer.close()
                except (pymysql.err.MySQLError, CdcError) as exc:
                    log.debug("ending the binlog connection failed: %s", exc)
            try:
                self._stream.close()
            except Exception as exc:  # closing a broken stream must not mask the real error
                log.debug("closing the binlog stream failed: %s", exc)
            self._stream = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._ctl is not None and self._ctl.open:
            self._ctl.close()
        self._ctl = None
        self._queue = queue.Queue(_QUEUE_ITEMS)

    def describe(self) -> str:
        """A one-line description for logs and status."""
        return f"{self.connector} {redact(self.dsn)} server_id={self.server_id}"


def _values(row: dict[str, Any], values: str, none_sources: str) -> dict[str, Any]:
    out = dict(row[values])
    for name, why in (row.get(none_sources) or {}).items():
        if why == "empty set":
            out[name] = ""  # pymysqlreplication reports an empty SET as None
    return out


class _GtidState:
    """The MariaDB GTID position (one ``domain-server-seq`` per domain) reached so far."""

    def __init__(self, text: str | None) -> None:
        self.domains: dict[str, str] = {}
        self.current: str | None = None
        for gtid in (text or "").split(","):
            if gtid.strip():
                self.add(gtid.strip(), remember=False)

    def add(self, gtid: str, *, remember: bool = True) -> None:
        if gtid.count("-") == 2:
            self.domains[gtid.split("-", 1)[0]] = gtid
        if remember:
            self.current = gtid

    def text(self) -> str | None:
        return ",".join(self.domains[d] for d in sorted(self.domains)) or None
