"""Debezium envelopes rendered from changes: keys, schemas, tombstones, truncates, defaults."""

from __future__ import annotations

from typing import Any

import orjson

from strom.cdc.connect import primitive
from strom.cdc.envelope import VERSION, EnvelopeWriter
from strom.cdc.model import Change, Table, TableColumn
from strom.cdc.postgres.source import source_fields

TABLE = Table(
    "shop",
    "public",
    "orders",
    (
        TableColumn("id", primitive("int32", optional=False), 0, True),
        TableColumn("status", primitive("string"), "new", True),
        TableColumn("note", primitive("string")),
    ),
    key=("id",),
)


def writer(**options: Any) -> EnvelopeWriter:
    return EnvelopeWriter(
        "app", "postgresql", "shop", source_fields=source_fields(),
        clock_us=lambda: 1_700_000_000_123_456, **options,
    )  # fmt: skip


def change(op: Any, before: Any, after: Any) -> Change:
    return Change(TABLE, op, before, after, {"schema": "public", "table": "orders", "lsn": 9}, 5)


def test_create_with_schema() -> None:
    [(topic, key, value)] = writer().render(
        change("c", None, {"id": 1, "status": "x", "note": None})
    )
    assert topic == "app.public.orders"
    k, v = orjson.loads(key or b""), orjson.loads(value or b"")
    assert k == {
        "schema": {
            "type": "struct",
            "fields": [{"type": "int32", "optional": False, "default": 0, "field": "id"}],
            "optional": False,
            "name": "app.public.orders.Key",
        },
        "payload": {"id": 1},
    }
    assert [f["field"] for f in v["schema"]["fields"]] == [
        "before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"
    ]  # fmt: skip
    assert (v["schema"]["name"], v["schema"]["version"]) == ("app.public.orders.Envelope", 2)
    payload = v["payload"]
    assert payload["after"] == {"id": 1, "status": "x", "note": None}
    assert (payload["op"], payload["ts_ms"], payload["ts_us"]) == (
        "c",
        1_700_000_000_123,
        1_700_000_000_123_456,
    )
    assert list(payload["source"]) == [
        "version", "connector", "name", "ts_ms", "snapshot", "db", "sequence", "ts_us",
        "ts_ns", "schema", "table", "lsn",
    ]  # fmt: skip
    assert payload["source"]["version"] == VERSION and payload["source"]["snapshot"] == "false"


def test_delete_is_followed_by_a_tombstone_unless_disabled() -> None:
    records = writer(schemas=False).render(change("d", {"id": 1, "status": "x"}, None))
    assert [(k, v is None) for _, k, v in records] == [(b'{"id":1}', False), (b'{"id":1}', True)]
    assert len(writer(tombstones=False).render(change("d", {"id": 1}, None))) == 1


def test_truncate_has_no_key() -> None:
    [(_, key, value)] = writer(schemas=False).render(change("t", None, None))
    assert key is None and orjson.loads(value or b"")["op"] == "t"


def test_null_becomes_the_default_as_connects_json_converter_does() -> None:
    deleted = {"id": 1, "status": None, "note": None}  # a key-only before-image
    [(_, _, value), _] = writer(schemas=False).render(change("d", deleted, None))
    assert orjson.loads(value or b"")["before"] == {"id": 1, "status": "new", "note": None}
    assert deleted["status"] is None  # the change itself is not modified
    raw = writer(schemas=False, replace_null_with_default=False)
    [(_, _, value), _] = raw.render(change("d", deleted, None))
    assert orjson.loads(value or b"")["before"]["status"] is None


def test_schemas_are_rendered_per_table_shape() -> None:
    w = writer()
    first = w.render(change("c", None, {"id": 1}))[0][2]
    wider = Table(
        "shop", "public", "orders", (*TABLE.columns, TableColumn("extra", primitive("int64"))),
        key=("id",),
    )  # fmt: skip
    second = w.render(Change(wider, "c", None, {"id": 2, "extra": 5}, {}, 5))[0][2]
    fields = [
        [f["field"] for f in orjson.loads(v or b"")["schema"]["fields"][1]["fields"]]
        for v in (first, second)
    ]
    assert fields == [["id", "status", "note"], ["id", "status", "note", "extra"]]
