"""Captured PostgreSQL tables: their Debezium shape and the conversion of their rows.

A :class:`CapturedTable` is built from the catalog (snapshot) or from a pgoutput Relation
message plus the catalog (streaming). When the table is gone from the catalog (dropped while
its changes were still in the WAL), the Relation message alone describes it: every column
optional, the replica identity's key columns as the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from strom.cdc.errors import CdcError, MissingKeyError
from strom.cdc.model import Table, TableColumn
from strom.cdc.postgres import catalog
from strom.cdc.postgres.pgoutput import UNCHANGED, Relation, Value
from strom.cdc.postgres.types import TypeRegistry, default_value, resolve
from strom.cdc.postgres.values import Converter
from strom.cdc.source import MissingKey


@dataclass(frozen=True, slots=True)
class _Col:
    name: str
    convert: Converter
    placeholder: Any


class CapturedTable:
    """A table's :class:`~strom.cdc.model.Table` and the converters of its row tuples."""

    __slots__ = ("_cols", "table")

    def __init__(self, table: Table, cols: Sequence[_Col]) -> None:
        self.table = table
        self._cols = tuple(cols)

    def row(self, values: Sequence[Value], *, where: str) -> dict[str, Any]:
        """One row tuple (texts, None, UNCHANGED) as Debezium values keyed by column name."""
        row: dict[str, Any] = {}
        for col, value in zip(self._cols, values, strict=False):
            if value is None:
                row[col.name] = None
            elif value is UNCHANGED:
                row[col.name] = col.placeholder
            else:
                try:
                    row[col.name] = col.convert(value)  # type: ignore[arg-type]
                except (ValueError, ArithmeticError, IndexError) as exc:
                    raise CdcError(
                        f"cannot convert column {self.table.qualified_name}.{col.name} value "
                        f"{str(value)[:80]!r} ({where}): {exc}"
                    ) from exc
        return row


def _key(
    qualified: str, pk: tuple[str, ...], names: Sequence[str], missing_key: MissingKey
) -> tuple[str, ...]:
    if pk:
        return pk
    if missing_key == "none":
        return ()
    if missing_key == "all-columns":
        return tuple(names)
    raise MissingKeyError(
        f"table {qualified} has no primary key: add one, or run with missing_key='none' "
        "(records without a key, as Debezium writes them) or 'all-columns' (every column "
        "is the key). Note that PostgreSQL refuses UPDATE and DELETE on a published table "
        "without a primary key unless its REPLICA IDENTITY is FULL."
    )


def from_catalog(
    cur: Any, reg: TypeRegistry, database: str, schema: str, name: str, oid: int,
    missing_key: MissingKey,
) -> CapturedTable:  # fmt: skip
    """The table as the catalog (seen through ``cur``'s snapshot) describes it."""
    qualified = f"{schema}.{name}"
    cat_columns = catalog.columns(cur, oid)
    pk = catalog.primary_key(cur, oid)
    columns, cols = [], []
    for c in cat_columns:
        resolved = resolve(reg, c.type_oid, c.typmod, optional=not c.not_null)
        has_default, default = default_value(reg, c.type_oid, c.typmod, c.default)
        columns.append(TableColumn(c.name, resolved.schema, default, has_default))
        cols.append(_Col(c.name, resolved.convert, resolved.placeholder))
    key = _key(qualified, pk, [c.name for c in cat_columns], missing_key)
    table = Table(database, schema, name, tuple(columns), key, {"oid": oid})
    return CapturedTable(table, cols)


def from_relation(
    cur: Any, reg: TypeRegistry, database: str, relation: Relation, missing_key: MissingKey
) -> CapturedTable:
    """The table of a Relation message, completed from the catalog where it still exists."""
    qualified = f"{relation.namespace}.{relation.name}"
    live = {c.name: c for c in catalog.columns(cur, relation.oid)}
    if live:
        pk = catalog.primary_key(cur, relation.oid)
    elif relation.replica_identity != "f":
        pk = tuple(c.name for c in relation.columns if c.key)
    else:
        pk = ()
    columns, cols = [], []
    for rc in relation.columns:
        known = live.get(rc.name)
        not_null = known.not_null if known is not None else rc.name in pk
        resolved = resolve(reg, rc.type_oid, rc.typmod, optional=not not_null)
        has_default, default = (
            default_value(reg, rc.type_oid, rc.typmod, known.default)
            if known is not None
            else (False, None)
        )
        columns.append(TableColumn(rc.name, resolved.schema, default, has_default))
        cols.append(_Col(rc.name, resolved.convert, resolved.placeholder))
    key = _key(qualified, pk, [c.name for c in relation.columns], missing_key)
    table = Table(
        database, relation.namespace, relation.name, tuple(columns), key, {"oid": relation.oid}
    )
    return CapturedTable(table, cols)
