"""The initial snapshot of MySQL/MariaDB tables, consistent with a binlog position.

MariaDB: ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` and the ``binlog_snapshot_file`` /
``binlog_snapshot_position`` status give the binlog position of exactly that snapshot, with no
lock. MySQL: a brief ``FLUSH TABLES WITH READ LOCK`` around the snapshot's start and
``SHOW MASTER STATUS`` (Debezium's way; it needs the RELOAD privilege).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pymysql
import pymysql.cursors

from strom.cdc.model import Change
from strom.cdc.mysql import tables as my_tables
from strom.cdc.snapshot import marked


def start_snapshot(conn: Any, mariadb: bool) -> tuple[str, int, str | None]:
    """Open the snapshot transaction on ``conn``; its (binlog file, position, GTID position)."""
    cur = conn.cursor()
    cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    if mariadb:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
        status = {str(name).lower(): value for name, value in cur.fetchall()}
        file, pos = status["binlog_snapshot_file"], int(status["binlog_snapshot_position"])
        cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (file, pos))
        row = cur.fetchone()
        return file, pos, (row[0] or None) if row else None
    cur.execute("FLUSH TABLES WITH READ LOCK")
    try:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    finally:
        cur.execute("UNLOCK TABLES")
    return str(row[0]), int(row[1]), (row[4] or None) if len(row) > 4 else None


class SnapshotReader:
    """Reads the captured tables inside the snapshot transaction, a batch at a time."""

    def __init__(
        self,
        conn: Any,
        targets: Sequence[my_tables.CapturedTable],
        file: str,
        pos: int,
        server_id: int,
        fetch: int,
    ) -> None:
        self._conn = conn
        self._targets = list(targets)
        self._file, self._pos, self._server_id = file, pos, server_id
        self._fetch = fetch
        self._ts_us = time.time_ns() // 1000
        self._rows = marked(self._iterate())
        self.done = False
        self.rows_read = 0

    def _iterate(self) -> Iterator[tuple[my_tables.CapturedTable, dict[str, Any]]]:
        for captured in self._targets:
            table = captured.table
            cur = self._conn.cursor(pymysql.cursors.SSDictCursor)
            cur.execute(f"SELECT * FROM `{table.database}`.`{table.name}`")
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

    def _change(self, captured: my_tables.CapturedTable, row: dict[str, Any], mark: str) -> Change:
        source = {
            "db": captured.table.database,
            "table": captured.table.name,
            "server_id": self._server_id,
            "gtid": None,
            "file": self._file,
            "pos": self._pos,
            "row": 0,
            "thread": None,
            "query": None,
        }
        return Change(captured.table, "r", None, row, source, self._ts_us, snapshot=mark)

    def close(self) -> None:
        """Abandon the snapshot."""
        if self._conn.open:
            self._conn.close()
