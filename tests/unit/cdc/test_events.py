"""Reading change events: Debezium 3.6.1's own output (captured from its embedded engine) and
strom's, with and without schemas, in the DSL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

import strom
from strom.cdc import ChangeEvent, change_events, change_keys, table
from strom.errors import SerializationError

SAMPLES = [
    orjson.loads(line)
    for line in (Path(__file__).parent / "debezium-3.6.1-postgres.jsonl").read_bytes().splitlines()
]


def raw(sample: dict[str, Any], part: str) -> bytes | None:
    return None if sample[part] is None else orjson.dumps(sample[part])


def test_debeziums_snapshot_event_decodes_to_python_values() -> None:
    event = change_events().deserialize(raw(SAMPLES[0], "value"))
    assert isinstance(event, ChangeEvent)
    assert (event.op, event.is_snapshot, event.table, event.schema, event.database) == (
        "r", True, "t1", "public", "strom"
    )  # fmt: skip
    row = event.after
    assert row is not None
    assert row["n"] == Decimal("12.34")
    assert row["nv"] == Decimal("1.5")
    assert row["ts"] == datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert row["ts3"] == datetime(2024, 1, 2, 3, 4, 5, 123000)
    assert row["tstz"] == datetime(2024, 1, 2, 1, 4, 5, 500000, tzinfo=UTC)
    assert row["d"] == date(2024, 1, 2)
    assert row["tm"] == time(3, 4, 5, 123456)
    assert row["tmtz"] == time(1, 4, 5, tzinfo=UTC)
    assert row["iv"] == timedelta(microseconds=37091106500000)
    assert row["j"] == {"a": 1} and row["jb"] == {"b": [1, 2]}
    assert row["ia"] == [1, 2, None] and row["na"] == [Decimal("1.5"), None]
    assert row["by"] == b"\x01\x02\xff"
    assert row["u"] == uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    assert (row["m"], row["mo"], row["c"]) == ("happy", Decimal("12.50"), "ab ")
    assert row["pt"]["x"] == 1.0 and row["pt"]["wkb"].startswith(b"\x01\x01")


def test_delete_tombstone_and_truncate() -> None:
    delete = change_events().deserialize(raw(SAMPLES[1], "value"))
    assert delete is not None and delete.is_delete and delete.row == delete.before
    assert change_events().deserialize(raw(SAMPLES[2], "value")) is None  # tombstone
    assert change_keys().deserialize(raw(SAMPLES[2], "key")) == {"id": 100}
    truncate = change_events().deserialize(raw(SAMPLES[3], "value"))
    assert truncate is not None and (truncate.op, truncate.row) == ("t", None)
    assert change_keys().deserialize(raw(SAMPLES[3], "key")) is None


def test_without_schema_values_stay_as_written() -> None:
    payload = orjson.dumps(SAMPLES[0]["value"]["payload"])
    event = change_events().deserialize(payload)
    assert event is not None and event.after is not None
    assert event.after["n"] == "BNI="  # no schema, no way to know it is a decimal
    assert change_events(decode_types=False).deserialize(raw(SAMPLES[0], "value")).after["d"] == (  # type: ignore[union-attr]
        19724
    )


@pytest.mark.parametrize(
    "data",
    [b"not json", b'{"schema": {}, "payload": {"ts_ms": 1}}', b"[1, 2]", b'{"serverName": "x"}'],
)
def test_what_is_not_a_change_event_is_named(data: bytes) -> None:
    with pytest.raises(SerializationError, match="not"):
        change_events().deserialize(data)


def test_serialize_round_trip_of_decoded_values() -> None:
    serde = change_events()
    event = ChangeEvent("u", {"id": 1, "p": Decimal("1.5")}, {"id": 1, "p": Decimal("2.5")},
                        {"table": "t"}, 5)  # fmt: skip
    back = serde.deserialize(serde.serialize(event))
    assert back is not None and back.after == {"id": 1, "p": "2.5"} and back.op == "u"


def test_change_events_in_the_dsl() -> None:
    app = strom.App("cdc-dsl")
    orders = app.topic("shop.public.orders", key=change_keys(), value=change_events())
    rows = app.topic("order-rows", key=strom.serde.json(), value=strom.serde.json())
    (
        app.stream(orders)
        .filter(lambda e: e is not None and not e.is_delete, name="upserts")
        .map_values(lambda e: e.row, name="rows")
        .to(rows)
    )
    with strom.testing.TestDriver(app) as driver:
        driver.send(orders, ChangeEvent("c", None, {"id": 1, "qty": 2}, {"table": "orders"}, 1),
                    key={"id": 1})  # fmt: skip
        driver.send(orders, ChangeEvent("d", {"id": 1, "qty": 2}, None, {"table": "orders"}, 2),
                    key={"id": 1})  # fmt: skip
        driver.send(orders, None, key={"id": 1})  # the tombstone
        assert driver.read(rows) == [{"id": 1, "qty": 2}]


def test_a_change_topic_as_a_table_keeps_the_latest_row_per_key() -> None:
    app = strom.App("cdc-table", state_backend="memory")
    orders = table(app, "shop.public.orders")
    out = app.topic("rows", key=strom.serde.json())
    orders.to_stream().to(out)
    source = app.topics["shop.public.orders"]
    with strom.testing.TestDriver(app) as driver:
        events = [
            (ChangeEvent("c", None, {"id": 1, "qty": 2}, {"table": "orders"}, 1), {"id": 1}),
            (ChangeEvent("u", {"id": 1, "qty": 2}, {"id": 1, "qty": 5}, {}, 2), {"id": 1}),
            (ChangeEvent("c", None, {"id": 2, "qty": 1}, {"table": "orders"}, 3), {"id": 2}),
            (ChangeEvent("d", {"id": 1, "qty": 5}, None, {"table": "orders"}, 4), {"id": 1}),
            (None, {"id": 1}),  # the delete's tombstone: nothing more to remove
        ]
        for event, key in events:
            driver.send(source, event, key=key)
        assert driver.read(out) == [
            {"id": 1, "qty": 2},
            {"id": 1, "qty": 5},
            {"id": 2, "qty": 1},
            None,
        ]
        assert driver.store("shop.public.orders-rows").get(2) == {"id": 2, "qty": 1}
        assert driver.store("shop.public.orders-rows").get(1) is None
