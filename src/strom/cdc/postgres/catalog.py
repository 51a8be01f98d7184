"""Catalog queries the PostgreSQL source needs: tables, keys, slots, publications.

Every function takes a DB-API cursor of an ordinary (non-replication) connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CatalogColumn:
    """A column as ``pg_attribute`` describes it now."""

    name: str
    type_oid: int
    typmod: int
    not_null: bool
    default: str | None


@dataclass(frozen=True, slots=True)
class SlotInfo:
    """A row of ``pg_replication_slots`` with the lag figures ``strom cdc status`` reports."""

    name: str
    plugin: str | None
    slot_type: str
    database: str | None
    active: bool
    active_pid: int | None
    restart_lsn: int | None
    confirmed_flush_lsn: int | None
    lag_bytes: int | None
    retained_bytes: int | None
    wal_status: str | None


def table_oid(cur: Any, qualified: str) -> int | None:
    """OID of ``schema.table`` (names taken literally, any case), None when it does not exist."""
    schema, _, name = qualified.partition(".")
    cur.execute(
        "SELECT to_regclass(quote_ident(%s) || '.' || quote_ident(%s))::oid", (schema, name)
    )
    row = cur.fetchone()
    return int(row[0]) if row and row[0] is not None else None


def table_name(cur: Any, oid: int) -> tuple[str, str] | None:
    """(schema, table) of a relation OID, None when it no longer exists."""
    cur.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = %s",
        (oid,),
    )
    row = cur.fetchone()
    return (row[0], row[1]) if row else None


def columns(cur: Any, oid: int) -> list[CatalogColumn]:
    """The table's live, non-generated columns in order (empty when the table is gone)."""
    cur.execute(
        "SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d "
        "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
        "ORDER BY a.attnum",
        (oid,),
    )
    return [
        CatalogColumn(name, int(type_oid), int(typmod), bool(not_null), default)
        for name, type_oid, typmod, not_null, default in cur.fetchall()
    ]


def primary_key(cur: Any, oid: int) -> tuple[str, ...]:
    """The primary key's columns in key order (empty when there is none)."""
    cur.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (oid,),
    )
    return tuple(row[0] for row in cur.fetchall())


def replica_identity(cur: Any, oid: int) -> str | None:
    """``d`` (default), ``f`` (full), ``i`` (index) or ``n`` (nothing)."""
    cur.execute("SELECT relreplident FROM pg_class WHERE oid = %s", (oid,))
    row = cur.fetchone()
    return str(row[0]) if row else None


def publication_exists(cur: Any, name: str) -> bool:
    """Whether publication ``name`` exists in the database."""
    cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,))
    return cur.fetchone() is not None


def publication_tables(cur: Any, name: str) -> set[str]:
    """``schema.table`` names the publication publishes."""
    cur.execute(
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (name,)
    )
    return {f"{schema}.{table}" for schema, table in cur.fetchall()}


def slot(cur: Any, name: str) -> SlotInfo | None:
    """The replication slot ``name``, None when it does not exist."""
    found = slots(cur, name)
    return found[0] if found else None


def slots(cur: Any, name: str | None = None) -> list[SlotInfo]:
    """Replication slots (all of them, or the one named), with lag against the current WAL."""
    cur.execute(
        "SELECT slot_name, plugin, slot_type, database, active, active_pid, "
        "restart_lsn - '0/0'::pg_lsn, confirmed_flush_lsn - '0/0'::pg_lsn, "
        "pg_current_wal_lsn() - confirmed_flush_lsn, pg_current_wal_lsn() - restart_lsn, "
        "wal_status FROM pg_replication_slots "
        + ("WHERE slot_name = %s " if name is not None else "")
        + "ORDER BY slot_name",
        (name,) if name is not None else (),
    )
    out = []
    for row in cur.fetchall():
        out.append(
            SlotInfo(
                name=row[0],
                plugin=row[1],
                slot_type=row[2],
                database=row[3],
                active=bool(row[4]),
                active_pid=row[5],
                restart_lsn=_int(row[6]),
                confirmed_flush_lsn=_int(row[7]),
                lag_bytes=_int(row[8]),
                retained_bytes=_int(row[9]),
                wal_status=row[10],
            )
        )
    return out


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
