"""The initial snapshot: every row of the captured tables, as of the slot's start point.

The slot is created with an exported snapshot; a REPEATABLE READ transaction adopts it
(``SET TRANSACTION SNAPSHOT``), so the rows read are exactly the state at the slot's
consistent point and the stream continues from there with nothing missed and nothing doubled.
Rows are read with a server-side cursor and every value is kept in its text form (the type's
output function, exactly what ``pgoutput`` sends; a ``::text`` cast would differ for booleans,
``char(n)`` and ``inet``), so that one converter per column serves the snapshot and the
stream. ``source.snapshot`` marks rows as Debezium does (``first``,
``first_in_data_collection``, ``true``, ``last_in_data_collection``, ``last``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import psycopg2.extensions
from psycopg2 import sql

from strom.cdc.model import Change
from strom.cdc.postgres import tables as pg_tables
from strom.cdc.postgres.types import TypeRegistry
from strom.cdc.snapshot import marked
from strom.cdc.source import MissingKey


class SnapshotReader:
    """Reads the captured tables inside the exported snapshot, a batch at a time.

    Args:
        conn: a fresh psycopg2 connection (not autocommit), used for this snapshot only.
        reg: the type registry.
        database: the database name.
        targets: (schema, table, oid) of each captured table, in snapshot order.
        snapshot_name: the name ``CREATE_REPLICATION_SLOT`` exported.
        lsn: the slot's consistent point (``source.lsn`` of every snapshot row).
        missing_key: the fallback for tables without a primary key.
        fetch: rows per round trip.
    """

    def __init__(
        self,
        conn: Any,
        reg: TypeRegistry,
        database: str,
        targets: Sequence[tuple[str, str, int]],
        snapshot_name: str,
        lsn: int,
        missing_key: MissingKey,
        fetch: int,
    ) -> None:
        self._conn = conn
        self._lsn = lsn
        self._fetch = fetch
        self._as_text = psycopg2.extensions.new_type(
            reg.oids(), "STROM_TEXT", lambda value, _: value
        )
        cur = conn.cursor()
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))
        cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        self._txid = int(cur.fetchone()[0])
        self._tables = [
            pg_tables.from_catalog(cur, reg, database, schema, name, oid, missing_key)
            for schema, name, oid in targets
        ]
        cur.close()
        self._ts_us = time.time_ns() // 1000
        self._rows = marked(self._iterate())
        self.done = False
        self.rows_read = 0

    def _iterate(self) -> Iterator[tuple[pg_tables.CapturedTable, dict[str, Any]]]:
        for index, captured in enumerate(self._tables):
            table = captured.table
            query = sql.SQL("SELECT {} FROM {}.{}").format(
                sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns),
                sql.Identifier(table.schema or ""),
                sql.Identifier(table.name),
            )
            cur = self._conn.cursor(name=f"strom_snapshot_{index}")
            psycopg2.extensions.register_type(self._as_text, cur)
            cur.itersize = self._fetch
            cur.execute(query)
            where = f"snapshot of {table.qualified_name}"
            while True:
                batch = cur.fetchmany(self._fetch)
                if not batch:
                    break
                for values in batch:
                    yield captured, captured.row(values, where=where)
            cur.close()

    def read(self, max_items: int) -> list[Change]:
        """Up to ``max_items`` snapshot rows; sets :attr:`done` after the last one."""
        out = [
            self._change(captured, row, mark)
            for captured, row, mark in itertools.islice(self._rows, max_items)
        ]
        self.rows_read += len(out)
        if len(out) < max_items:
            self.done = True
            self._conn.rollback()
            self._conn.close()
        return out

    def _change(self, captured: pg_tables.CapturedTable, row: dict[str, Any], mark: str) -> Change:
        table = captured.table
        source = {
            "sequence": orjson.dumps([None, str(self._lsn)]).decode(),
            "schema": table.schema,
            "table": table.name,
            "txId": self._txid,
            "lsn": self._lsn,
            "xmin": None,
            "origin": None,
            "origin_lsn": None,
        }
        return Change(table, "r", None, row, source, self._ts_us, snapshot=mark)

    def close(self) -> None:
        """Abandon the snapshot (its rows are read again from a new slot next time)."""
        if not self._conn.closed:
            self._conn.close()
