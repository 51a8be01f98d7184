"""PostgreSQL change capture over logical replication (``pgoutput``), Debezium's way.

A replication slot keeps the WAL the capture has not acknowledged; a publication names the
tables. On the first run (no stored position) the slot is created with an exported snapshot,
the tables are read inside that snapshot, and streaming continues from the slot's consistent
point. Afterwards the capture resumes from its stored position. The slot only learns a
position (``flush_lsn``) from :meth:`PostgresSource.acknowledge`, which the engine calls once
the log holds every change before it.

Example (needs a server, so not run here)::

    source = PostgresSource("postgresql://strom@127.0.0.1:5432/shop",
                            SourceSettings(tables=("public.orders",)), slot="shop")
"""

from __future__ import annotations

import logging
import re
import select
import time
from typing import Any

import orjson
import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from strom.cdc.connect import Schema, field, primitive
from strom.cdc.errors import (
    CdcError,
    PositionLostError,
    PublicationError,
    SlotInUseError,
    SourceUnavailableError,
)
from strom.cdc.model import Change, Checkpoint, Item
from strom.cdc.postgres import catalog
from strom.cdc.postgres import pgoutput as pgo
from strom.cdc.postgres import tables as pg_tables
from strom.cdc.postgres.snapshot import SnapshotReader
from strom.cdc.postgres.types import TypeRegistry
from strom.cdc.source import SourceSettings
from strom.errors import ConfigError

log = logging.getLogger("strom.cdc.postgres")

SESSION_OPTIONS = (
    "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=postgres -c lc_monetary=C "
    "-c bytea_output=hex -c extra_float_digits=1"
)
"""Output formats the text converters rely on, for the replication and snapshot sessions."""

_NAME = re.compile(r"^[a-z0-9_]{1,63}$")


def connect(dsn: str, *, replication: bool = False, timeout: float = 10.0) -> Any:
    """A psycopg2 connection with strom's session settings (a replication one if asked)."""
    kwargs: dict[str, Any] = {"options": SESSION_OPTIONS, "connect_timeout": max(1, int(timeout))}
    if replication:
        kwargs["connection_factory"] = psycopg2.extras.LogicalReplicationConnection
    try:
        return psycopg2.connect(dsn, **kwargs)
    except psycopg2.OperationalError as exc:
        raise SourceUnavailableError(
            f"cannot connect to PostgreSQL {redact(dsn)}: {str(exc).strip()}"
        ) from exc


def redact(dsn: str) -> str:
    """``dsn`` without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)


def database_of(dsn: str) -> str:
    """The database a DSN names."""
    try:
        return str(psycopg2.extensions.parse_dsn(dsn).get("dbname") or "postgres")
    except psycopg2.ProgrammingError as exc:
        raise ConfigError(f"invalid PostgreSQL DSN {redact(dsn)}: {exc}") from exc


def check_name(kind: str, name: str) -> str:
    """Slot and publication names: lower-case letters, digits and underscores, 1-63 long."""
    if not _NAME.match(name):
        raise ConfigError(
            f"cdc: {kind} name {name!r} must be 1-63 lower-case letters, digits or underscores"
        )
    return name


def source_fields() -> list[Schema]:
    """The PostgreSQL-specific fields of Debezium's ``source`` block."""
    return [
        field("schema", primitive("string", optional=False)),
        field("table", primitive("string", optional=False)),
        field("txId", primitive("int64")),
        field("lsn", primitive("int64")),
        field("xmin", primitive("int64")),
        field("origin", primitive("string")),
        field("origin_lsn", primitive("int64")),
    ]


class PostgresSource:
    """Logical replication from one database (see the module docs).

    Args:
        dsn: ``postgresql://user:password@host:port/database``.
        settings: tables, snapshot mode, missing-key fallback.
        slot: the replication slot (created when missing).
        publication: the publication (default: the slot's name).
        create_publication: create the publication when missing and add captured tables it
            lacks; when False, a missing publication or table is an error.
        status_interval: seconds between standby status messages to the server.
    """

    connector = "postgresql"
    source_schema_name = "io.debezium.connector.postgresql.Source"

    def __init__(
        self,
        dsn: str,
        settings: SourceSettings,
        *,
        slot: str,
        publication: str | None = None,
        create_publication: bool = True,
        status_interval: float = 10.0,
    ) -> None:
        self.dsn = dsn
        self.settings = settings
        self.slot = check_name("slot", slot)
        self.publication = check_name("publication", publication or slot)
        self.create_publication = create_publication
        self.status_interval = status_interval
        self.database = database_of(dsn)
        self.source_fields = source_fields()
        self._meta: Any = None
        self._repl: Any = None
        self._cur: Any = None
        self._reg = TypeRegistry.builtin()
        self._snapshot: SnapshotReader | None = None
        self._snapshot_lsn = 0
        self._streaming = False
        self._relations: dict[int, pg_tables.CapturedTable | None] = {}
        self._captured = set(settings.tables)
        self._resume_lsn = 0
        self._tx: pgo.Begin | None = None
        self._skip_tx = False
        self._last_commit_lsn: int | None = None
        self._last_position = 0
        self._acked = 0
        self._existing: set[str] = set()

    # --- start-up ---------------------------------------------------------------------------

    def start(self, stored: dict[str, Any] | None) -> None:
        """Validate tables and publication, then snapshot or resume (see the module docs)."""
        try:
            self._start(stored)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            raise SourceUnavailableError(
                f"PostgreSQL {redact(self.dsn)} failed during start-up: {str(exc).strip()}"
            ) from exc
        except psycopg2.Error as exc:
            raise CdcError(
                f"PostgreSQL {redact(self.dsn)} refused a start-up step of slot {self.slot!r}: "
                f"{str(exc).strip()}"
            ) from exc

    def _start(self, stored: dict[str, Any] | None) -> None:
        self._relations.clear()
        self._tx, self._skip_tx, self._streaming = None, False, False
        self._meta = connect(self.dsn)
        self._meta.autocommit = True
        cur = self._meta.cursor()
        self._reg = TypeRegistry.load(cur)
        info = catalog.slot(cur, self.slot)
        if stored is not None and info is None:
            raise PositionLostError(
                f"replication slot {self.slot!r} no longer exists, but a position in it is "
                "stored: changes since may be lost. Run `strom cdc forget --name NAME` to "
                "forget the position, then run again to take a new snapshot."
            )
        # A new slot starts from the tables as they are: each must exist. Resuming, a table
        # may be gone (dropped while the capture was down); its changes still in the WAL come
        # through, described by their Relation messages.
        fresh = info is None or (stored is None and self.settings.snapshot == "initial")
        targets = self._check_tables(cur, strict=fresh)
        self._ensure_publication(cur, [t for t in self.settings.tables if t in self._existing])
        if info is not None and info.active:
            raise SlotInUseError(
                f"replication slot {self.slot!r} is in use by process {info.active_pid} "
                "(another capture is running?): stop it, or use another slot"
            )
        if info is not None and (info.plugin != "pgoutput" or info.database != self.database):
            raise ConfigError(
                f"replication slot {self.slot!r} decodes with {info.plugin!r} for database "
                f"{info.database!r}; strom needs a pgoutput slot of {self.database!r}"
            )
        self._repl = connect(self.dsn, replication=True)
        self._cur = self._repl.cursor()
        if stored is None and self.settings.snapshot == "initial":
            if info is not None:
                log.warning(
                    "replication slot %s exists but no position is stored: recreating it so "
                    "that the snapshot is consistent with it",
                    self.slot,
                )
                cur.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))
            lsn, snapshot_name = self._create_slot(export=True)
            self._snapshot_lsn = lsn
            self._snapshot = SnapshotReader(
                connect(self.dsn), self._reg, self.database, targets, snapshot_name, lsn,
                self.settings.missing_key, self.settings.snapshot_fetch,
            )  # fmt: skip
            log.info("snapshot of %d table(s) at LSN %s", len(targets), pgo.format_lsn(lsn))
            return
        if stored is None:
            lsn = info.confirmed_flush_lsn or 0 if info is not None else self._create_slot()[0]
            self._start_streaming(lsn)
            return
        self._start_streaming(int(stored["lsn"]))

    def _check_tables(self, cur: Any, *, strict: bool) -> list[tuple[str, str, int]]:
        targets = []
        self._existing = set()
        for qualified in self.settings.tables:
            oid = catalog.table_oid(cur, qualified)
            if oid is None:
                if not strict:
                    log.warning("table %s no longer exists; resuming without it", qualified)
                    continue
                raise ConfigError(
                    f"cdc: table {qualified} does not exist in database {self.database!r}"
                )
            self._existing.add(qualified)
            if not catalog.primary_key(cur, oid):
                # Raises MissingKeyError under missing_key="fail".
                pg_tables._key(qualified, (), [], self.settings.missing_key)
            schema, _, name = qualified.partition(".")
            targets.append((schema, name, oid))
        return targets

    def _ensure_publication(self, cur: Any, tables: list[str]) -> None:
        exists = catalog.publication_exists(cur, self.publication)
        if not exists and not self.create_publication:
            raise PublicationError(
                f"publication {self.publication!r} does not exist in database "
                f"{self.database!r}: create it (CREATE PUBLICATION {self.publication} FOR TABLE "
                f"{', '.join(tables)}) or let strom create it"
            )
        idents = [sql.Identifier(*t.split(".")) for t in tables]
        if not exists:
            cur.execute(
                sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                    sql.Identifier(self.publication), sql.SQL(", ").join(idents)
                )
            )
            return
        published = catalog.publication_tables(cur, self.publication)
        missing = [t for t in tables if t not in published]
        if not missing:
            return
        if not self.create_publication:
            raise PublicationError(
                f"publication {self.publication!r} does not publish {', '.join(missing)}: "
                f"ALTER PUBLICATION {self.publication} ADD TABLE {', '.join(missing)}"
            )
        cur.execute(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
                sql.Identifier(self.publication),
                sql.SQL(", ").join(sql.Identifier(*t.split(".")) for t in missing),
            )
        )

    def _create_slot(self, *, export: bool = False) -> tuple[int, str]:
        mode = "EXPORT_SNAPSHOT" if export else "NOEXPORT_SNAPSHOT"
        try:
            self._cur.execute(f'CREATE_REPLICATION_SLOT "{self.slot}" LOGICAL pgoutput {mode}')
        except psycopg2.errors.DuplicateObject as exc:
            raise SlotInUseError(
                f"replication slot {self.slot!r} was created by another process meanwhile"
            ) from exc
        _, consistent_point, snapshot_name, _ = self._cur.fetchone()
        return pgo.parse_lsn(consistent_point), snapshot_name or ""

    def _start_streaming(self, lsn: int) -> None:
        self._resume_lsn = lsn
        self._last_position = lsn
        try:
            self._cur.start_replication(
                slot_name=self.slot,
                decode=False,
                start_lsn=lsn,
                status_interval=self.status_interval,
                options={"proto_version": "1", "publication_names": self.publication},
            )
        except psycopg2.errors.ObjectInUse as exc:
            raise SlotInUseError(
                f"replication slot {self.slot!r} is in use by another process: {exc}".strip()
            ) from exc
        self._streaming = True
        if self._acked:
            self._cur.send_feedback(flush_lsn=self._acked, write_lsn=self._acked, force=True)
        log.info("streaming slot %s from LSN %s", self.slot, pgo.format_lsn(lsn))

    # --- reading ----------------------------------------------------------------------------

    def poll(self, max_items: int, timeout: float) -> list[Item]:
        """Snapshot rows first, then the stream's changes and checkpoints."""
        if self._snapshot is not None:
            snapshot = self._snapshot
            items: list[Item] = list(snapshot.read(max_items))
            if snapshot.done:
                log.info("snapshot done: %d row(s)", snapshot.rows_read)
                self._snapshot = None
                items.append(Checkpoint({"lsn": self._snapshot_lsn, "snapshot": "done"}))
                self._start_streaming(self._snapshot_lsn)
            return items
        try:
            return self._read_stream(max_items, timeout)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            raise SourceUnavailableError(
                f"replication connection to {redact(self.dsn)} failed: {str(exc).strip()}"
            ) from exc

    def _read_stream(self, max_items: int, timeout: float) -> list[Item]:
        items: list[Item] = []
        deadline = time.monotonic() + timeout
        cur = self._cur
        while len(items) < max_items:
            msg = cur.read_message()
            if msg is None:
                if self._tx is None and cur.wal_end > self._last_position:
                    # Idle: nothing of ours is in flight, so the server's WAL position can be
                    # acknowledged, or the slot would hold WAL of other tables' traffic.
                    self._last_position = cur.wal_end
                    items.append(Checkpoint({"lsn": cur.wal_end}))
                if items:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                select.select([self._repl], [], [], min(remaining, 1.0))
                continue
            self._handle(pgo.decode(msg.payload), msg.data_start, items)
        return items

    def _handle(self, message: pgo.Message, lsn: int, items: list[Item]) -> None:
        if isinstance(message, pgo.Begin):
            self._tx = message
            self._skip_tx = message.final_lsn < self._resume_lsn
            return
        if isinstance(message, pgo.Commit):
            self._tx = None
            self._last_commit_lsn = message.commit_lsn
            if not self._skip_tx and message.end_lsn > self._last_position:
                self._last_position = message.end_lsn
                items.append(Checkpoint({"lsn": message.end_lsn}))
            return
        if isinstance(message, pgo.Relation):
            qualified = f"{message.namespace}.{message.name}"
            if qualified not in self._captured:
                self._relations[message.oid] = None
                return
            if any(c.type_oid not in self._reg for c in message.columns):
                self._reg = TypeRegistry.load(self._meta.cursor())
            self._relations[message.oid] = pg_tables.from_relation(
                self._meta.cursor(), self._reg, self.database, message,
                self.settings.missing_key,
            )  # fmt: skip
            return
        if isinstance(message, pgo.TypeMessage):
            self._reg = TypeRegistry.load(self._meta.cursor())
            return
        if self._skip_tx or self._tx is None:
            return
        if isinstance(message, pgo.Truncate):
            for oid in message.relation_oids:
                captured = self._relations.get(oid)
                if captured is not None:
                    items.append(self._change(captured, "t", None, None, lsn))
            return
        if not isinstance(message, pgo.Insert | pgo.Update | pgo.Delete):
            return  # Origin, logical messages
        captured = self._relations.get(message.relation_oid)
        if captured is None:
            return
        where = f"LSN {pgo.format_lsn(lsn)}"
        if isinstance(message, pgo.Insert):
            new = captured.row(message.new, where=where)
            items.append(self._change(captured, "c", None, new, lsn))
        elif isinstance(message, pgo.Delete):
            old = captured.row(message.old, where=where)
            items.append(self._change(captured, "d", old, None, lsn))
        else:
            after = captured.row(message.new, where=where)
            before = captured.row(message.old, where=where) if message.old is not None else None
            table = captured.table
            if before is not None and table.key and table.key_of(before) != table.key_of(after):
                # A primary key change is a delete of the old key and a create of the new
                # one, so that compacted topics and per-key consumers stay right (Debezium).
                items.append(self._change(captured, "d", before, None, lsn))
                items.append(self._change(captured, "c", None, after, lsn))
            else:
                items.append(self._change(captured, "u", before, after, lsn))

    def _change(
        self,
        captured: pg_tables.CapturedTable,
        op: Any,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        lsn: int,
    ) -> Change:
        tx = self._tx
        assert tx is not None
        last = None if self._last_commit_lsn is None else str(self._last_commit_lsn)
        table = captured.table
        source = {
            "sequence": orjson.dumps([last, str(lsn)]).decode(),
            "schema": table.schema,
            "table": table.name,
            "txId": tx.xid,
            "lsn": lsn,
            "xmin": None,
            "origin": None,
            "origin_lsn": None,
        }
        headers = (("strom.cdc.commit_lsn", str(tx.final_lsn).encode()),)
        return Change(table, op, before, after, source, tx.commit_ts_us, headers=headers)

    # --- acknowledging ----------------------------------------------------------------------

    def acknowledge(self, position: dict[str, Any]) -> None:
        """Tell the slot that everything up to ``position["lsn"]`` is safely in the log."""
        lsn = int(position["lsn"])
        if lsn <= self._acked:
            return
        self._acked = lsn
        if self._streaming:
            try:
                self._cur.send_feedback(flush_lsn=lsn, write_lsn=lsn, force=True)
            except psycopg2.Error as exc:  # a terminated walsender raises DatabaseError here
                raise SourceUnavailableError(
                    f"replication connection to {redact(self.dsn)} failed: {exc}"
                ) from exc

    def close(self) -> None:
        """Close the connections (the slot and the publication stay)."""
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None
        for conn in (self._repl, self._meta):
            if conn is not None and not conn.closed:
                try:
                    conn.close()
                except psycopg2.Error as exc:
                    log.debug("closing a connection failed: %s", exc)
        self._repl = self._meta = self._cur = None
        self._streaming = False

    def describe(self) -> str:
        """A one-line description for logs and status."""
        return f"postgresql {redact(self.dsn)} slot={self.slot} publication={self.publication}"
