"""Operating MySQL/MariaDB capture: where the binlog is (``strom cdc status``)."""

from __future__ import annotations

from dataclasses import dataclass

import pymysql

from strom.cdc.errors import SourceUnavailableError
from strom.cdc.mysql.source import connection_settings, redact


@dataclass(frozen=True, slots=True)
class BinlogStatus:
    """The server's binlog: current file and position, GTID position, files and sizes."""

    file: str
    position: int
    gtid: str | None
    files: tuple[tuple[str, int], ...]

    def bytes_behind(self, file: str, position: int) -> int | None:
        """Binlog bytes between a stored (file, position) and the end; None if it is gone."""
        names = [name for name, _ in self.files]
        if file not in names:
            return None
        start = names.index(file)
        total = 0
        for name, size in self.files[start:]:
            total += (self.position if name == self.file else size) - (
                position if name == file else 0
            )
            if name == self.file:
                break
        return total


def binlog_status(dsn: str) -> BinlogStatus:
    """The binlog status of the server of ``dsn``."""
    try:
        conn = pymysql.connect(**{**connection_settings(dsn), "autocommit": True})
    except pymysql.err.OperationalError as exc:
        raise SourceUnavailableError(f"cannot connect to {redact(dsn)}: {exc}") from exc
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
            if row is None:
                raise SourceUnavailableError(f"{redact(dsn)} has no binlog (log_bin is off)")
            file, position = str(row[0]), int(row[1])
            gtid = None
            cur.execute("SHOW VARIABLES LIKE 'gtid_binlog_pos'")
            found = cur.fetchone()
            if found is not None:
                gtid = str(found[1]) or None
            cur.execute("SHOW BINARY LOGS")
            files = tuple((str(r[0]), int(r[1])) for r in cur.fetchall())
        return BinlogStatus(file, position, gtid, files)
    finally:
        conn.close()
