"""Captured MySQL/MariaDB tables: their Debezium shape from ``information_schema``.

The binlog carries column names and values (``binlog_row_metadata=FULL``); the Debezium types,
nullability, defaults and the primary key come from ``information_schema``, read when a table
is first seen and again after DDL touches its database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strom.cdc.connect import primitive
from strom.cdc.errors import CdcError, MissingKeyError
from strom.cdc.model import Table, TableColumn
from strom.cdc.mysql.types import ColumnInfo, Converter, column_type, default_value
from strom.cdc.source import MissingKey


class CapturedTable:
    """A table's :class:`~strom.cdc.model.Table` and the converters of its values."""

    __slots__ = ("_converters", "table")

    def __init__(self, table: Table, converters: dict[str, Converter]) -> None:
        self.table = table
        self._converters = converters

    def restricted_to(self, names: tuple[str, ...]) -> CapturedTable:
        """The table with exactly the columns ``names`` (in that order): those it knows keep
        their type; unknown ones (dropped since) are written as strings."""
        known = {c.name: c for c in self.table.columns}
        columns = tuple(known.get(n) or TableColumn(n, primitive("string")) for n in names)
        converters = {n: self._converters.get(n, _as_string) for n in names}
        key = tuple(k for k in self.table.key if k in names) if self.table.key else ()
        table = Table(self.table.database, None, self.table.name, columns, key)
        return CapturedTable(table, converters)

    def row(self, values: Mapping[str, Any], *, where: str) -> dict[str, Any]:
        """Decoded values (binlog or snapshot) as Debezium values, in column order."""
        row: dict[str, Any] = {}
        for column in self.table.columns:
            value = values.get(column.name)
            if value is None:
                row[column.name] = None
                continue
            try:
                row[column.name] = self._converters[column.name](value)
            except (ValueError, ArithmeticError, TypeError, AttributeError) as exc:
                raise CdcError(
                    f"cannot convert column {self.table.qualified_name}.{column.name} value "
                    f"{str(value)[:80]!r} ({where}): {exc}"
                ) from exc
        return row


def _as_string(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def columns(cur: Any, database: str, name: str) -> list[ColumnInfo]:
    """The table's columns in order (empty when it does not exist)."""
    cur.execute(
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, "
        "COALESCE(NUMERIC_PRECISION, CHARACTER_MAXIMUM_LENGTH), NUMERIC_SCALE, "
        "DATETIME_PRECISION FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (database, name),
    )
    out = []
    for col, data_type, col_type, nullable, default, precision, scale, dt_precision in cur:
        if data_type.lower() == "bit":
            # information_schema reports BIT(n)'s n as NUMERIC_PRECISION.
            precision = int(col_type[col_type.index("(") + 1 : col_type.index(")")])
        out.append(
            ColumnInfo(
                col,
                data_type.lower(),
                col_type,
                nullable == "YES",
                default,
                None if precision is None else int(precision),
                None if scale is None else int(scale),
                None if dt_precision is None else int(dt_precision),
            )
        )
    return out


def primary_key(cur: Any, database: str, name: str) -> tuple[str, ...]:
    """The primary key's columns in key order."""
    cur.execute(
        "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s "
        "AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
        (database, name),
    )
    return tuple(row[0] for row in cur.fetchall())


def load(cur: Any, database: str, name: str, missing_key: MissingKey) -> CapturedTable | None:
    """The table as ``information_schema`` describes it now; None when it does not exist."""
    infos = columns(cur, database, name)
    if not infos:
        return None
    pk = primary_key(cur, database, name)
    if not pk:
        if missing_key == "fail":
            raise MissingKeyError(
                f"table {database}.{name} has no primary key: add one, or run with "
                "missing_key='none' (records without a key, as Debezium writes them) or "
                "'all-columns' (every column is the key)"
            )
        pk = tuple(i.name for i in infos) if missing_key == "all-columns" else ()
    table_columns, converters = [], {}
    for info in infos:
        schema, convert = column_type(info)
        has_default, default = default_value(info, convert)
        table_columns.append(TableColumn(info.name, schema, default, has_default))
        converters[info.name] = convert
    table = Table(database, None, name, tuple(table_columns), pk)
    return CapturedTable(table, converters)
