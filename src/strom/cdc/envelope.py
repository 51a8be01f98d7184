"""Debezium change-event envelopes: ``before``, ``after``, ``source``, ``op``, ``ts_ms``.

:class:`EnvelopeWriter` turns a :class:`~strom.cdc.model.Change` into the key and value bytes
Debezium's JSON converter would write, with the ``schema`` part (``schemas.enable=true``,
Debezium's default) or without it. Schemas are rendered once per table shape and spliced in
as bytes, so the per-event cost is one ``orjson.dumps`` of the payload.

Example:
    >>> from strom.cdc.connect import primitive
    >>> from strom.cdc.model import Change, Table, TableColumn
    >>> t = Table("shop", "public", "orders",
    ...           (TableColumn("id", primitive("int32", optional=False)),), key=("id",))
    >>> w = EnvelopeWriter("app", "postgresql", "shop", source_fields=[], schemas=False,
    ...                    clock_us=lambda: 1_000_000)
    >>> [(topic, key) for topic, key, _ in w.render(Change(t, "c", None, {"id": 1}, {}, 5))]
    [('app.public.orders', b'{"id":1}')]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

import strom
from strom.cdc.connect import Schema, field, primitive, struct, with_optional
from strom.cdc.model import Change, Table

VERSION = f"strom-{strom.__version__}"
"""``source.version``: Debezium writes its own version there; strom writes its own."""

SNAPSHOT_ENUM = "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"

Rendered = tuple[str, bytes | None, bytes | None]
"""(topic, key bytes, value bytes): one record to write."""

_Rendered = tuple[Table, str, bytes, bytes, tuple[tuple[str, Any], ...]]


def common_source_fields() -> list[Schema]:
    """The ``source`` fields every Debezium connector writes first."""
    return [
        field("version", primitive("string", optional=False)),
        field("connector", primitive("string", optional=False)),
        field("name", primitive("string", optional=False)),
        field("ts_ms", primitive("int64", optional=False)),
        field(
            "snapshot",
            primitive(
                "string",
                name="io.debezium.data.Enum",
                version=1,
                parameters={"allowed": SNAPSHOT_ENUM},
            ),
            default="false",
        ),
        field("db", primitive("string", optional=False)),
        field("sequence", primitive("string")),
        field("ts_us", primitive("int64")),
        field("ts_ns", primitive("int64")),
    ]


def transaction_block_schema() -> Schema:
    """Debezium's optional ``transaction`` block (written as null: metadata is not provided)."""
    return struct(
        [
            field("id", primitive("string", optional=False)),
            field("total_order", primitive("int64", optional=False)),
            field("data_collection_order", primitive("int64", optional=False)),
        ],
        optional=True,
        name="event.block",
        version=1,
    )


def topic_name(prefix: str, table: Table) -> str:
    """``prefix.schema.table`` (``prefix.database.table`` on MySQL), Debezium's topic naming."""
    return f"{prefix}.{table.qualified_name}"


class EnvelopeWriter:
    """Renders changes as Debezium JSON records.

    Args:
        prefix: Debezium's ``topic.prefix``: topic names and ``source.name``.
        connector: ``postgresql`` or ``mysql`` (``source.connector``).
        database: ``source.db``.
        source_fields: the connector-specific ``source`` fields after the common ones.
        source_schema_name: the ``source`` struct's schema name.
        schemas: write ``{"schema": ..., "payload": ...}`` (True) or the payload alone.
        tombstones: follow each delete with a record whose value is null.
        replace_null_with_default: write a column's default where its value is null, as
            Kafka Connect's JsonConverter does by default (``replace.null.with.default``), so
            that a delete's key-only before-image shows defaults exactly as Debezium's does.
        clock_us: current epoch microseconds (the envelope's ``ts_ms``/``ts_us``/``ts_ns``).
    """

    def __init__(
        self,
        prefix: str,
        connector: str,
        database: str,
        *,
        source_fields: list[Schema],
        source_schema_name: str = "io.debezium.connector.postgresql.Source",
        schemas: bool = True,
        tombstones: bool = True,
        replace_null_with_default: bool = True,
        clock_us: Callable[[], int] | None = None,
    ) -> None:
        self.prefix = prefix
        self.connector = connector
        self.database = database
        self.schemas = schemas
        self.tombstones = tombstones
        self.replace_null_with_default = replace_null_with_default
        self._clock_us = clock_us or (lambda: time.time_ns() // 1000)
        self._source_schema = struct(
            [*common_source_fields(), *source_fields],
            optional=False,
            name=source_schema_name,
            version=1,
        )
        # qualified table name -> (table, topic, key schema, envelope schema, defaults)
        self._rendered: dict[str, _Rendered] = {}

    def _schemas_of(self, table: Table) -> _Rendered:
        cached = self._rendered.get(table.qualified_name)
        if cached is not None and cached[0] is table:
            return cached
        topic = topic_name(self.prefix, table)
        key_schema, envelope_schema = self.schemas_for(table)
        defaults = tuple((c.name, c.default) for c in table.columns if c.has_default)
        rendered = (
            table,
            topic,
            orjson.dumps(key_schema),
            orjson.dumps(envelope_schema),
            defaults if self.replace_null_with_default else (),
        )
        self._rendered[table.qualified_name] = rendered
        return rendered

    def schemas_for(self, table: Table) -> tuple[Schema, Schema]:
        """The key schema and the envelope schema of ``table``."""
        topic = topic_name(self.prefix, table)
        by_name = {column.name: column for column in table.columns}
        key_fields = [
            _column_field(by_name[name].name, by_name[name])
            for name in table.key
            if name in by_name
        ]
        key_schema = struct(key_fields, optional=False, name=f"{topic}.Key")
        row_fields = [_column_field(column.name, column) for column in table.columns]
        row_schema = struct(row_fields, optional=True, name=f"{topic}.Value")
        envelope_schema = struct(
            [
                field("before", row_schema),
                field("after", row_schema),
                field("source", self._source_schema),
                field("transaction", transaction_block_schema()),
                field("op", primitive("string", optional=False)),
                field("ts_ms", primitive("int64")),
                field("ts_us", primitive("int64")),
                field("ts_ns", primitive("int64")),
            ],
            optional=False,
            name=f"{topic}.Envelope",
            version=2,
        )
        return key_schema, envelope_schema

    def source_block(self, change: Change) -> dict[str, Any]:
        """The full ``source`` block of ``change``."""
        ts_us = change.ts_us
        block: dict[str, Any] = {
            "version": VERSION,
            "connector": self.connector,
            "name": self.prefix,
            "ts_ms": ts_us // 1000,
            "snapshot": change.snapshot,
            "db": self.database,
            "sequence": None,
            "ts_us": ts_us,
            "ts_ns": ts_us * 1000,
        }
        block.update(change.source)
        return block

    def render(self, change: Change) -> list[Rendered]:
        """The records of one change: the event, and a tombstone after a delete."""
        _, topic, key_schema, envelope_schema, defaults = self._schemas_of(change.table)
        before, after = change.before, change.after
        if defaults:
            before = _with_defaults(before, defaults)
            after = _with_defaults(after, defaults)
        now_us = self._clock_us()
        payload = {
            "before": before,
            "after": after,
            "source": self.source_block(change),
            "transaction": None,
            "op": change.op,
            "ts_ms": now_us // 1000,
            "ts_us": now_us,
            "ts_ns": now_us * 1000,
        }
        if change.op == "t":
            key_struct = None
        elif change.key is not None:
            key_struct = change.key
        else:
            row = change.after if change.after is not None else change.before
            key_struct = change.table.key_of(row) if row is not None else None
        value = orjson.dumps(payload)
        if key_struct is None:
            key = None
        elif self.schemas:
            key = b'{"schema":' + key_schema + b',"payload":' + orjson.dumps(key_struct) + b"}"
        else:
            key = orjson.dumps(key_struct)
        if self.schemas:
            value = b'{"schema":' + envelope_schema + b',"payload":' + value + b"}"
        records: list[Rendered] = [(topic, key, value)]
        if change.op == "d" and self.tombstones:
            records.append((topic, key, None))
        return records


def _with_defaults(
    row: dict[str, Any] | None, defaults: tuple[tuple[str, Any], ...]
) -> dict[str, Any] | None:
    if row is None:
        return None
    copied = False
    for name, default in defaults:
        if name in row and row[name] is None:
            if not copied:
                row, copied = dict(row), True
            row[name] = default
    return row


def _column_field(name: str, column: Any) -> Schema:
    schema = with_optional(column.schema, column.schema.get("optional", True))
    if column.has_default:
        return field(name, schema, default=column.default)
    return field(name, schema)
