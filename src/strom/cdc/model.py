"""What a capture source hands to the engine: tables, row changes and checkpoints.

Sources (PostgreSQL, MySQL/MariaDB) turn database changes into :class:`Change` objects whose
row values are already in Debezium's JSON representation, and mark transaction boundaries with
:class:`Checkpoint`: every change before a checkpoint belongs to a transaction at or before its
position. The engine (:mod:`strom.cdc.engine`) writes changes to the log and acknowledges a
checkpoint's position to the database only once the log acknowledged every change before it.

Example:
    >>> from strom.cdc.connect import primitive
    >>> orders = Table(
    ...     database="shop", schema="public", name="orders",
    ...     columns=(TableColumn("id", primitive("int32", optional=False)),
    ...              TableColumn("note", primitive("string"))),
    ...     key=("id",),
    ... )
    >>> orders.qualified_name, orders.key_of({"id": 7, "note": "x"})
    ('public.orders', {'id': 7})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from strom.cdc.connect import Schema

Op = Literal["c", "u", "d", "r", "t"]
"""Debezium's operation codes: create, update, delete, read (snapshot), truncate."""

SNAPSHOT_MARKS = ("first", "first_in_data_collection", "true", "last_in_data_collection", "last")
"""Values of ``source.snapshot`` during a snapshot, as Debezium writes them."""


@dataclass(frozen=True, slots=True)
class TableColumn:
    """One column: its name, Connect schema (``optional`` set) and default, if any."""

    name: str
    schema: Schema
    default: Any = None
    has_default: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Table:
    """A captured table as the engine needs it: columns, key columns, where it lives.

    A source builds a new ``Table`` whenever the table's shape changes (a Relation message,
    DDL); the engine caches rendered schemas per ``Table`` object. An empty ``key`` means the
    table has no primary key and the configured fallback applied (records without a key).
    """

    database: str
    schema: str | None
    name: str
    columns: tuple[TableColumn, ...]
    key: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        """``schema.table`` (``database.table`` on MySQL, which has no schemas)."""
        return f"{self.schema or self.database}.{self.name}"

    def key_of(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The key struct of ``row`` (None for a table without a key)."""
        if not self.key:
            return None
        return {name: row.get(name) for name in self.key}


@dataclass(slots=True)
class Change:
    """One row change, values in Debezium's JSON representation.

    Attributes:
        table: the table, as of this change.
        op: ``c``, ``u``, ``d``, ``r`` (snapshot read) or ``t`` (truncate).
        before: the row before (updates, deletes), None when unknown or not applicable.
        after: the row after (inserts, updates, reads).
        source: the connector-specific part of Debezium's ``source`` block (position, txId...);
            the engine adds the common fields (version, connector, name, db...).
        ts_us: commit time of the transaction (snapshot: the snapshot time), epoch µs.
        snapshot: ``source.snapshot``: ``false``, or a mark of :data:`SNAPSHOT_MARKS`.
        key: the key struct (None: computed from ``after``/``before`` and ``table.key``).
        headers: extra record headers (the commit position, for consumers that group
            transactions).
    """

    table: Table
    op: Op
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    source: dict[str, Any]
    ts_us: int
    snapshot: str = "false"
    key: dict[str, Any] | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A position the source may resume from: every change before it is complete.

    ``position`` is JSON-able and source-specific (PostgreSQL: the commit LSN; MySQL: binlog
    file, position and GTID set).
    """

    position: dict[str, Any]


Item = Change | Checkpoint
"""What :meth:`Source.poll` returns."""
