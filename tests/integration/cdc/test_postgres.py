"""PostgreSQL capture against a real server: every operation, transactions, schema changes,
resume, output options, and bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from strom.cdc import change_events, change_keys
from strom.cdc.errors import MissingKeyError, PositionLostError, PublicationError, SlotInUseError
from strom.errors import ConfigError
from tests.integration.cdc.support import (
    drop_slot,
    pg_engine,
    pg_exec,
    pg_query,
    pg_tx,
    read_topic,
    running,
    uid,
    wait_for,
    wait_slot_active,
)

pytestmark = pytest.mark.postgres

EVENTS = change_events()
KEYS = change_keys()


@pytest.fixture
def schema(postgres_dsn: str) -> Any:
    name = f"cdc_{uid()}"
    pg_exec(postgres_dsn, f"CREATE SCHEMA {name}")
    slots: list[str] = []
    yield name, slots
    for slot in slots:
        drop_slot(postgres_dsn, slot, slot)
    pg_exec(postgres_dsn, f"DROP SCHEMA {name} CASCADE")


def events(url: str, topic: str) -> list[tuple[Any, Any, dict[str, bytes]]]:
    """(key dict, ChangeEvent or None, headers) of every record of a topic."""
    out = []
    for key, value, headers in read_topic(url, topic):
        k = None if key is None else KEYS.deserialize(orjson.dumps(key))
        v = None if value is None else EVENTS.deserialize(orjson.dumps(value))
        out.append((k, v, headers))
    return out


def wait_records(url: str, topic: str, n: int, timeout: float = 30) -> list[Any]:
    wait_for(lambda: len(read_topic(url, topic)) >= n, timeout, f"{n} records on {topic}")
    return events(url, topic)


def test_snapshot_then_every_operation(postgres_dsn: str, schema: Any, tmp_path: Path) -> None:
    s, slots = schema
    pg_exec(
        postgres_dsn,
        f"CREATE TABLE {s}.orders (id int PRIMARY KEY, item text, qty int)",
        f"ALTER TABLE {s}.orders REPLICA IDENTITY FULL",
        f"INSERT INTO {s}.orders VALUES (1, 'book', 1), (2, 'pen', 2)",
    )
    url = f"local://{tmp_path / 'log'}"
    slots.append(f"strom_{s}")
    engine = pg_engine(postgres_dsn, url, [f"{s}.orders"], slot=f"strom_{s}", prefix="shop")
    topic = f"shop.{s}.orders"
    with running(engine):
        wait_records(url, topic, 2)
        pg_exec(
            postgres_dsn,
            f"INSERT INTO {s}.orders VALUES (3, 'ink', 3)",
            f"UPDATE {s}.orders SET qty = 10 WHERE id = 1",
            f"DELETE FROM {s}.orders WHERE id = 2",
            f"UPDATE {s}.orders SET id = 30 WHERE id = 3",
            f"TRUNCATE {s}.orders",
        )
        got = wait_records(url, topic, 2 + 1 + 1 + 2 + 3 + 1)
    ops = [(v.op if v else None, k) for k, v, _ in got]
    assert ops == [
        ("r", {"id": 1}),
        ("r", {"id": 2}),
        ("c", {"id": 3}),
        ("u", {"id": 1}),
        ("d", {"id": 2}),
        (None, {"id": 2}),  # tombstone
        ("d", {"id": 3}),  # a key change is a delete of the old key ...
        (None, {"id": 3}),
        ("c", {"id": 30}),  # ... and a create of the new one
        ("t", None),
    ]
    snapshot = [v.source["snapshot"] for _, v, _ in got[:2]]
    assert snapshot == ["first", "last"]
    update = got[3][1]
    assert update.before == {"id": 1, "item": "book", "qty": 1}  # REPLICA IDENTITY FULL
    assert update.after == {"id": 1, "item": "book", "qty": 10}
    assert got[4][1].before == {"id": 2, "item": "pen", "qty": 2}
    assert {v.source["table"] for _, v, _ in got if v} == {"orders"}
    assert {v.source["schema"] for _, v, _ in got if v} == {s}


def test_transactions_stay_together_with_their_commit_lsn(
    postgres_dsn: str, schema: Any, tmp_path: Path
) -> None:
    s, slots = schema
    pg_exec(postgres_dsn, f"CREATE TABLE {s}.acct (id int PRIMARY KEY, balance int)")
    url = f"local://{tmp_path / 'log'}"
    slots.append(f"strom_{s}")
    engine = pg_engine(postgres_dsn, url, [f"{s}.acct"], slot=f"strom_{s}", snapshot="never")
    topic = f"app.{s}.acct"
    with running(engine):
        wait_slot_active(postgres_dsn, f"strom_{s}")  # fmt: skip
        for n in range(5):
            pg_tx(
                postgres_dsn,
                *[f"INSERT INTO {s}.acct VALUES ({n * 10 + i}, {i})" for i in range(3)],
            )
        got = wait_records(url, topic, 15)
    lsns = [h["strom.cdc.commit_lsn"] for _, _, h in got]
    groups = [lsns[i : i + 3] for i in range(0, 15, 3)]
    assert all(len(set(g)) == 1 for g in groups)  # one commit LSN per transaction
    assert len({g[0] for g in groups}) == 5
    assert [int(g[0]) for g in groups] == sorted(int(g[0]) for g in groups)  # commit order
    txids = [v.source["txId"] for _, v, _ in got]
    assert all(len(set(txids[i : i + 3])) == 1 for i in range(0, 15, 3))


def test_schema_changes_mid_stream(postgres_dsn: str, schema: Any, tmp_path: Path) -> None:
    s, slots = schema
    pg_exec(postgres_dsn, f"CREATE TABLE {s}.items (id int PRIMARY KEY, name text)")
    url = f"local://{tmp_path / 'log'}"
    slots.append(f"strom_{s}")
    engine = pg_engine(postgres_dsn, url, [f"{s}.items"], slot=f"strom_{s}", snapshot="never")
    topic = f"app.{s}.items"
    with running(engine):
        wait_slot_active(postgres_dsn, f"strom_{s}")  # fmt: skip
        pg_exec(
            postgres_dsn,
            f"INSERT INTO {s}.items VALUES (1, 'a')",
            f"ALTER TABLE {s}.items ADD COLUMN price numeric(8,2) NOT NULL DEFAULT 0",
            f"INSERT INTO {s}.items VALUES (2, 'b', 9.99)",
            f"ALTER TABLE {s}.items DROP COLUMN name",
            f"INSERT INTO {s}.items VALUES (3, 1.5)",
            f"ALTER TABLE {s}.items ALTER COLUMN price TYPE text",
            f"INSERT INTO {s}.items VALUES (4, 'free')",
        )
        got = wait_records(url, topic, 4)
    assert [v.after for _, v, _ in got] == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b", "price": Decimal("9.99")},
        {"id": 3, "price": Decimal("1.50")},
        {"id": 4, "price": "free"},
    ]
    raw = [v for _, v, _ in read_topic(url, topic)]
    fields = [[f["field"] for f in r["schema"]["fields"][1]["fields"]] for r in raw]
    assert fields == [["id", "name"], ["id", "name", "price"], ["id", "price"], ["id", "price"]]
    price = raw[1]["schema"]["fields"][1]["fields"][2]
    assert (price["optional"], price["default"]) == (False, "AA==")  # NOT NULL DEFAULT 0


def test_types_read_back_as_python_values(postgres_dsn: str, schema: Any, tmp_path: Path) -> None:
    s, slots = schema
    pg_exec(
        postgres_dsn,
        f"CREATE TYPE {s}.mood AS ENUM ('sad', 'happy')",
        f"""CREATE TABLE {s}.t (id int PRIMARY KEY, n numeric(10,3), nv numeric, ts timestamp,
            tstz timestamptz, d date, tm time, iv interval, j jsonb, a int[], t text[], b bytea,
            u uuid, m {s}.mood, f float8, big text, z text)""",
        f"ALTER TABLE {s}.t ALTER COLUMN big SET STORAGE EXTERNAL",  # TOAST without compression
    )
    url = f"local://{tmp_path / 'log'}"
    slots.append(f"strom_{s}")
    engine = pg_engine(postgres_dsn, url, [f"{s}.t"], slot=f"strom_{s}", snapshot="never")
    topic = f"app.{s}.t"
    u = uuid.uuid4()
    with running(engine):
        wait_slot_active(postgres_dsn, f"strom_{s}")  # fmt: skip
        pg_exec(
            postgres_dsn,
            f"""INSERT INTO {s}.t VALUES (1, -1234.5, 0.000001, '2024-02-29 23:59:59.999999',
              '2024-01-01 00:00:00+05', '0001-01-01', '00:00:01.5', '1 day 2 hours', '{{"k": [1]}}',
              '{{1,NULL,3}}', '{{"a,b",""}}', '\\xdeadbeef', '{u}', 'happy', -0.5,
              repeat('x', 3000), NULL)""",
            f"UPDATE {s}.t SET z = 'changed' WHERE id = 1",
        )
        got = wait_records(url, topic, 2)
    row = got[0][1].after
    assert row == {
        "id": 1,
        "n": Decimal("-1234.500"),
        "nv": Decimal("0.000001"),
        "ts": datetime(2024, 2, 29, 23, 59, 59, 999999),
        "tstz": datetime(2023, 12, 31, 19, 0, tzinfo=UTC),
        "d": date(1, 1, 1),
        "tm": datetime(1970, 1, 1, 0, 0, 1, 500000).time(),
        "iv": timedelta(days=1, hours=2),
        "j": {"k": [1]},
        "a": [1, None, 3],
        "t": ["a,b", ""],
        "b": bytes.fromhex("deadbeef"),
        "u": u,
        "m": "happy",
        "f": -0.5,
        "big": "x" * 3000,
        "z": None,
    }
    # The update does not resend the unchanged TOASTed value: Debezium's placeholder stands in.
    assert got[1][1].after["big"] == "__debezium_unavailable_value"
    assert got[1][1].after["z"] == "changed"


def test_stop_and_resume_continue_exactly(postgres_dsn: str, schema: Any, tmp_path: Path) -> None:
    s, slots = schema
    pg_exec(
        postgres_dsn,
        f"CREATE TABLE {s}.c (id int PRIMARY KEY, v int)",
        f"INSERT INTO {s}.c VALUES (1, 0)",
    )
    url = f"local://{tmp_path / 'log'}"
    slots.append(f"strom_{s}")
    topic = f"app.{s}.c"
    with running(pg_engine(postgres_dsn, url, [f"{s}.c"], slot=f"strom_{s}")):
        wait_records(url, topic, 1)  # the snapshot
        pg_exec(postgres_dsn, f"UPDATE {s}.c SET v = 1")
        wait_records(url, topic, 2)
    # Changes while nothing captures: the slot keeps them.
    pg_exec(postgres_dsn, f"UPDATE {s}.c SET v = 2", f"UPDATE {s}.c SET v = 3")
    with running(pg_engine(postgres_dsn, url, [f"{s}.c"], slot=f"strom_{s}")):
        pg_exec(postgres_dsn, f"UPDATE {s}.c SET v = 4")
        got = wait_records(url, topic, 5)
    assert [(v.op, v.after["v"]) for _, v, _ in got] == [
        ("r", 0), ("u", 1), ("u", 2), ("u", 3), ("u", 4)
    ]  # fmt: skip


def test_output_options_heartbeats_and_file_offsets(
    postgres_dsn: str, schema: Any, tmp_path: Path
) -> None:
    s, slots = schema
    pg_exec(
        postgres_dsn, f"CREATE TABLE {s}.k (id int PRIMARY KEY)", f"INSERT INTO {s}.k VALUES (1)"
    )
    url = f"local://{tmp_path / 'log'}"
    slots.append(f"strom_{s}")
    offsets = tmp_path / "position.json"
    engine = pg_engine(
        postgres_dsn, url, [f"{s}.k"], slot=f"strom_{s}", prefix="p", schemas=False,
        tombstones=False, heartbeat_interval=0.2, offsets=str(offsets), partitions=3,
    )  # fmt: skip
    topic = f"p.{s}.k"
    with running(engine):
        wait_for(lambda: offsets.exists(), 30, "a stored position")
        pg_exec(postgres_dsn, f"DELETE FROM {s}.k")
        wait_for(lambda: len(_all_partitions(url, topic)) >= 2, 30, "the delete")
        wait_for(lambda: len(read_topic(url, "__debezium-heartbeat.p")) >= 2, 30, "heartbeats")
    records = _all_partitions(url, topic)
    assert [(k, v["op"]) for k, v in records] == [({"id": 1}, "r"), ({"id": 1}, "d")]
    assert "schema" not in records[0][1]  # payload only
    beat_key, beat, _ = read_topic(url, "__debezium-heartbeat.p")[0]
    assert beat_key == {"serverName": "p"} and isinstance(beat["ts_ms"], int)
    assert "lsn" in orjson.loads(offsets.read_bytes())


def _all_partitions(url: str, topic: str) -> list[tuple[Any, Any]]:
    import strom.log
    from strom.log import TopicPartition

    log = strom.log.connect(url)
    try:
        if topic not in log.admin().list_topics():
            return []
        parts = log.admin().describe_topic(topic).partitions
        consumer = log.consumer()
        out = []
        for p in range(parts):
            tp = TopicPartition(topic, p)
            _, high = consumer.watermarks(tp)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            got: list[Any] = []
            while len(got) < high:
                got += consumer.poll(100, timeout=1.0)
            out += [(orjson.loads(r.key), orjson.loads(r.value)) for r in got if r.value]
        consumer.close()
        return out
    finally:
        log.close()


@pytest.mark.kafka
def test_capture_into_kafka(postgres_dsn: str, schema: Any, kafka_url: str) -> None:
    s, slots = schema
    pg_exec(postgres_dsn, f"CREATE TABLE {s}.k (id int PRIMARY KEY, v text)",
            f"INSERT INTO {s}.k VALUES (1, 'x')")  # fmt: skip
    slots.append(f"strom_{s}")
    prefix = f"kf{uid()}"
    engine = pg_engine(postgres_dsn, kafka_url, [f"{s}.k"], slot=f"strom_{s}", prefix=prefix,
                       name=prefix)  # fmt: skip
    topic = f"{prefix}.{s}.k"
    with running(engine):
        wait_records(kafka_url, topic, 1)
        pg_exec(postgres_dsn, f"UPDATE {s}.k SET v = 'y'")
        got = wait_records(kafka_url, topic, 2)
    assert [(k, v.op, v.after) for k, v, _ in got] == [
        ({"id": 1}, "r", {"id": 1, "v": "x"}),
        ({"id": 1}, "u", {"id": 1, "v": "y"}),
    ]


# --- bad input ---------------------------------------------------------------------------------


def test_table_without_primary_key(postgres_dsn: str, schema: Any, tmp_path: Path) -> None:
    s, slots = schema
    pg_exec(
        postgres_dsn,
        f"CREATE TABLE {s}.nopk (a int, b text)",
        f"ALTER TABLE {s}.nopk REPLICA IDENTITY FULL",
        f"INSERT INTO {s}.nopk VALUES (1, 'x')",
    )
    url = f"local://{tmp_path / 'log'}"
    with pytest.raises(MissingKeyError, match=rf"{s}\.nopk has no primary key"):
        pg_engine(postgres_dsn, url, [f"{s}.nopk"], slot=f"strom_{s}").run(max_polls=1)
    for policy, key in (("none", None), ("all-columns", {"a": 1, "b": "x"})):
        slot = f"strom_{s}_{policy[0]}"
        slots.append(slot)
        engine = pg_engine(postgres_dsn, url, [f"{s}.nopk"], slot=slot, prefix=policy[0],
                           missing_key=policy)  # fmt: skip
        with running(engine):
            got = wait_records(url, f"{policy[0]}.{s}.nopk", 1)
        assert got[0][0] == key and got[0][1].after == {"a": 1, "b": "x"}


def test_missing_publication_is_named(postgres_dsn: str, schema: Any, tmp_path: Path) -> None:
    s, _ = schema
    pg_exec(postgres_dsn, f"CREATE TABLE {s}.t (id int PRIMARY KEY)")
    url = f"local://{tmp_path / 'log'}"
    engine = pg_engine(postgres_dsn, url, [f"{s}.t"], slot=f"strom_{s}",
                       publication=f"nope_{s}", create_publication=False)  # fmt: skip
    with pytest.raises(PublicationError, match=rf"publication 'nope_{s}' does not exist"):
        engine.run(max_polls=1)
    pg_exec(postgres_dsn, f"CREATE PUBLICATION other_{s}")
    try:
        engine = pg_engine(postgres_dsn, url, [f"{s}.t"], slot=f"strom_{s}",
                           publication=f"other_{s}", create_publication=False)  # fmt: skip
        with pytest.raises(PublicationError, match=rf"does not publish {s}\.t"):
            engine.run(max_polls=1)
    finally:
        pg_exec(postgres_dsn, f"DROP PUBLICATION other_{s}")
    assert not pg_query(postgres_dsn, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s",
                        (f"strom_{s}",))  # fmt: skip


def test_missing_table_is_named(postgres_dsn: str, schema: Any, tmp_path: Path) -> None:
    s, _ = schema
    engine = pg_engine(postgres_dsn, f"local://{tmp_path}", [f"{s}.ghost"], slot=f"strom_{s}")
    with pytest.raises(ConfigError, match=rf"table {s}\.ghost does not exist"):
        engine.run(max_polls=1)


def test_slot_in_use_by_another_process(postgres_dsn: str, schema: Any, tmp_path: Path) -> None:
    s, slots = schema
    pg_exec(postgres_dsn, f"CREATE TABLE {s}.t (id int PRIMARY KEY)")
    slots.append(f"strom_{s}")
    first = pg_engine(postgres_dsn, f"local://{tmp_path / 'a'}", [f"{s}.t"], slot=f"strom_{s}")
    with running(first):
        wait_slot_active(postgres_dsn, f"strom_{s}")  # fmt: skip
        second = pg_engine(postgres_dsn, f"local://{tmp_path / 'b'}", [f"{s}.t"],
                           slot=f"strom_{s}")  # fmt: skip
        with pytest.raises(SlotInUseError, match=rf"slot 'strom_{s}' is in use by process \d+"):
            second.run(max_polls=1)


def test_dropped_table_mid_stream(postgres_dsn: str, schema: Any, tmp_path: Path) -> None:
    s, slots = schema
    pg_exec(
        postgres_dsn,
        f"CREATE TABLE {s}.gone (id int PRIMARY KEY, v text)",
        f"CREATE TABLE {s}.stays (id int PRIMARY KEY)",
    )
    url = f"local://{tmp_path / 'log'}"
    slots.append(f"strom_{s}")
    tables = [f"{s}.gone", f"{s}.stays"]
    with running(pg_engine(postgres_dsn, url, tables, slot=f"strom_{s}", snapshot="never")):
        wait_slot_active(postgres_dsn, f"strom_{s}")  # fmt: skip
    # While nothing reads the slot: changes, then the table is dropped. When the capture
    # resumes, the catalog no longer knows the table its WAL changes belong to.
    pg_exec(
        postgres_dsn,
        f"INSERT INTO {s}.gone VALUES (1, 'a')",
        f"UPDATE {s}.gone SET v = 'b'",
        f"DROP TABLE {s}.gone",
        f"INSERT INTO {s}.stays VALUES (1)",
    )
    again = pg_engine(postgres_dsn, url, tables, slot=f"strom_{s}", snapshot="never")
    with running(again):
        got = wait_records(url, f"app.{s}.gone", 2)
        stays = wait_records(url, f"app.{s}.stays", 1)
        pg_exec(postgres_dsn, f"INSERT INTO {s}.stays VALUES (2)")
        stays = wait_records(url, f"app.{s}.stays", 2)
    assert [(k, v.op, v.after) for k, v, _ in got] == [
        ({"id": 1}, "c", {"id": 1, "v": "a"}),
        ({"id": 1}, "u", {"id": 1, "v": "b"}),
    ]
    assert [v.after for _, v, _ in stays] == [{"id": 1}, {"id": 2}]


def test_lost_slot_is_reported(postgres_dsn: str, schema: Any, tmp_path: Path) -> None:
    s, _ = schema
    pg_exec(postgres_dsn, f"CREATE TABLE {s}.t (id int PRIMARY KEY)")
    url = f"local://{tmp_path / 'log'}"
    with running(pg_engine(postgres_dsn, url, [f"{s}.t"], slot=f"strom_{s}")):
        wait_slot_active(postgres_dsn, f"strom_{s}")  # fmt: skip
    drop_slot(postgres_dsn, f"strom_{s}", f"strom_{s}")
    with pytest.raises(PositionLostError, match="strom cdc forget"):
        pg_engine(postgres_dsn, url, [f"{s}.t"], slot=f"strom_{s}").run(max_polls=1)


def test_a_killed_replication_connection_is_resumed(
    postgres_dsn: str, schema: Any, tmp_path: Path
) -> None:
    s, slots = schema
    pg_exec(postgres_dsn, f"CREATE TABLE {s}.r (id int PRIMARY KEY)")
    url = f"local://{tmp_path / 'log'}"
    slots.append(f"strom_{s}")
    engine = pg_engine(postgres_dsn, url, [f"{s}.r"], slot=f"strom_{s}", snapshot="never")
    with running(engine):
        wait_slot_active(postgres_dsn, f"strom_{s}")
        pg_exec(postgres_dsn, *[f"INSERT INTO {s}.r VALUES ({i})" for i in range(50)])
        # The server ends the walsender, as a restart or a network cut would.
        pg_exec(
            postgres_dsn,
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
            f"WHERE slot_name = 'strom_{s}'",
        )
        pg_exec(postgres_dsn, *[f"INSERT INTO {s}.r VALUES ({i})" for i in range(50, 100)])
        wait_for(lambda: engine.stats.reconnects >= 1, 60, "a reconnect")
        got = wait_records(url, f"app.{s}.r", 100)
    ids = [v.after["id"] for _, v, _ in got]
    assert set(ids) == set(range(100))  # repeats allowed (at-least-once), nothing lost
    assert ids == sorted(ids) or len(ids) > 100
