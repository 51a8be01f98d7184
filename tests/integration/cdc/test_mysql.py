"""MySQL-protocol capture against a real MariaDB: snapshot, every operation, types, schema
changes, resume from a binlog position and from a GTID, and bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pymysql
import pytest

from strom.cdc import capture, change_events, change_keys
from strom.cdc.engine import CdcEngine
from strom.cdc.errors import MissingKeyError, PositionLostError
from strom.errors import ConfigError
from tests.integration.cdc.support import read_topic, running, uid, wait_for

pytestmark = pytest.mark.mariadb

EVENTS = change_events()
KEYS = change_keys()


def connect(dsn: str, database: str | None = None) -> Any:
    parts = urlsplit(dsn)
    return pymysql.connect(
        host=parts.hostname, port=parts.port, user=parts.username, password=parts.password,
        database=database, autocommit=True,
    )  # fmt: skip


def sql(dsn: str, *statements: str) -> None:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def tx(dsn: str, *statements: str) -> None:
    conn = connect(dsn)
    try:
        conn.begin()
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def db(mariadb_dsn: str) -> Any:
    name = f"cdc_{uid()}"
    sql(mariadb_dsn, f"CREATE DATABASE {name}")
    yield name
    sql(mariadb_dsn, f"DROP DATABASE {name}")


def engine(dsn: str, url: str, tables: list[str], **options: Any) -> CdcEngine:
    return capture(dsn, tables, to=url, prefix=options.pop("prefix", "my"), **options)


def events(url: str, topic: str, n: int, timeout: float = 30) -> list[tuple[Any, Any]]:
    wait_for(lambda: len(read_topic(url, topic)) >= n, timeout, f"{n} records on {topic}")
    return [
        (
            None if k is None else KEYS.deserialize(orjson.dumps(k)),
            None if v is None else EVENTS.deserialize(orjson.dumps(v)),
        )
        for k, v, _ in read_topic(url, topic)
    ]


def test_snapshot_then_every_operation(mariadb_dsn: str, db: str, tmp_path: Path) -> None:
    sql(
        mariadb_dsn,
        f"CREATE TABLE {db}.orders (id int PRIMARY KEY, item varchar(20), qty int)",
        f"INSERT INTO {db}.orders VALUES (1, 'book', 1), (2, 'pen', 2)",
    )
    url = f"local://{tmp_path / 'log'}"
    topic = f"my.{db}.orders"
    with running(engine(mariadb_dsn, url, [f"{db}.orders"])):
        events(url, topic, 2)
        sql(
            mariadb_dsn,
            f"INSERT INTO {db}.orders VALUES (3, 'ink', 3)",
            f"UPDATE {db}.orders SET qty = 10 WHERE id = 1",
            f"DELETE FROM {db}.orders WHERE id = 2",
            f"UPDATE {db}.orders SET id = 30 WHERE id = 3",
            f"TRUNCATE TABLE {db}.orders",
        )
        got = events(url, topic, 10)
    assert [(v.op if v else None, k) for k, v in got] == [
        ("r", {"id": 1}),
        ("r", {"id": 2}),
        ("c", {"id": 3}),
        ("u", {"id": 1}),
        ("d", {"id": 2}),
        (None, {"id": 2}),
        ("d", {"id": 3}),
        (None, {"id": 3}),
        ("c", {"id": 30}),
        ("t", None),
    ]
    assert got[3][1].before == {"id": 1, "item": "book", "qty": 1}
    assert got[3][1].after == {"id": 1, "item": "book", "qty": 10}
    assert [v.source["snapshot"] for _, v in got[:2]] == ["first", "last"]
    assert {(v.source["connector"], v.source["db"], v.source["table"]) for _, v in got if v} == {
        ("mariadb", db, "orders")
    }
    assert all(v.source["file"].startswith("binlog.") for _, v in got if v)


def test_types_read_back_as_python_values(mariadb_dsn: str, db: str, tmp_path: Path) -> None:
    sql(
        mariadb_dsn,
        f"""CREATE TABLE {db}.t (id int PRIMARY KEY, ti tinyint, su smallint unsigned,
            bu bigint unsigned, dc decimal(12,3), f float, d double, dt datetime,
            dt6 datetime(6), ts timestamp(3) NULL, dd date, tm time(6), y year,
            e enum('a','b'), st set('x','y','z'), b1 bit(1), b5 bit(5), vb varbinary(8),
            tx text, js json, ch char(4))""",
        f"""INSERT INTO {db}.t VALUES (1, -1, 65535, 18446744073709551615, -1234.5, 1.1, 2.5,
            '2024-01-02 03:04:05', '2024-01-02 03:04:05.123456', '2024-06-30 23:59:59.5',
            '1999-12-31', '-12:34:56.5', 2024, 'b', 'x,z', b'1', b'00101', x'00ff',
            'zürich', '{{"a": [1]}}', 'ab')""",
    )
    url = f"local://{tmp_path / 'log'}"
    topic = f"my.{db}.t"
    with running(engine(mariadb_dsn, url, [f"{db}.t"])):
        events(url, topic, 1)
        sql(mariadb_dsn, f"INSERT INTO {db}.t SELECT 2, ti, su, bu, dc, f, d, dt, dt6, ts, dd, "
                         f"tm, y, e, '', b1, b5, vb, tx, js, ch FROM {db}.t")  # fmt: skip
        got = events(url, topic, 2)
    expected = {
        "ti": -1,
        "su": 65535,
        "bu": -1,  # bigint unsigned in Debezium's default "long" mode
        "dc": Decimal("-1234.500"),
        "f": 1.1,
        "d": 2.5,
        "dt": datetime(2024, 1, 2, 3, 4, 5),
        "dt6": datetime(2024, 1, 2, 3, 4, 5, 123456),
        "ts": datetime(2024, 6, 30, 23, 59, 59, 500000, tzinfo=UTC),
        "dd": date(1999, 12, 31),
        "y": 2024,
        "e": "b",
        "b1": True,
        "b5": b"\x05",
        "vb": b"\x00\xff",
        "tx": "zürich",
        "js": '{"a": [1]}',  # MariaDB's JSON is LONGTEXT: a string, as Debezium writes it
        "ch": "ab",
    }
    for (_, event), st in zip(got, ("x,z", ""), strict=True):  # snapshot, then the binlog
        row = event.after
        assert {k: v for k, v in row.items() if k not in ("id", "st", "tm")} == expected
        assert row["st"] == st
        assert row["tm"] == -timedelta(hours=12, minutes=34, seconds=56.5)  # a TIME is a duration
    raw = read_topic(url, topic)
    fields = {f["field"]: f for f in raw[1][1]["schema"]["fields"][1]["fields"]}
    assert fields["tm"]["name"] == "io.debezium.time.MicroTime"
    assert raw[1][1]["payload"]["after"]["tm"] == -((12 * 60 + 34) * 60 + 56.5) * 1_000_000
    assert fields["st"]["parameters"] == {"allowed": "x,y,z"}
    assert fields["b5"]["parameters"] == {"length": "5"}


@pytest.mark.parametrize("resume", ["position", "gtid"])
def test_stop_and_resume(mariadb_dsn: str, db: str, tmp_path: Path, resume: str) -> None:
    sql(mariadb_dsn, f"CREATE TABLE {db}.c (id int PRIMARY KEY, v int)",
        f"INSERT INTO {db}.c VALUES (1, 0)")  # fmt: skip
    url = f"local://{tmp_path / 'log'}"
    topic = f"my.{db}.c"
    with running(engine(mariadb_dsn, url, [f"{db}.c"], resume=resume)):
        events(url, topic, 1)
        sql(mariadb_dsn, f"UPDATE {db}.c SET v = 1")
        events(url, topic, 2)
    tx(mariadb_dsn, f"UPDATE {db}.c SET v = 2", f"INSERT INTO {db}.c VALUES (2, 0)")
    sql(mariadb_dsn, f"UPDATE {db}.c SET v = 3 WHERE id = 1")
    with running(engine(mariadb_dsn, url, [f"{db}.c"], resume=resume)):
        sql(mariadb_dsn, f"ALTER TABLE {db}.c ADD COLUMN note varchar(10) DEFAULT 'n'")
        sql(mariadb_dsn, f"INSERT INTO {db}.c (id, v) VALUES (3, 0)")
        got = events(url, topic, 6)
    assert [(v.op, v.after) for _, v in got] == [
        ("r", {"id": 1, "v": 0}),
        ("u", {"id": 1, "v": 1}),
        ("u", {"id": 1, "v": 2}),
        ("c", {"id": 2, "v": 0}),
        ("u", {"id": 1, "v": 3}),
        ("c", {"id": 3, "v": 0, "note": "n"}),
    ]
    assert got[2][1].source["gtid"] == got[3][1].source["gtid"]  # one transaction


def test_table_without_primary_key(mariadb_dsn: str, db: str, tmp_path: Path) -> None:
    sql(mariadb_dsn, f"CREATE TABLE {db}.nopk (a int, b text)",
        f"INSERT INTO {db}.nopk VALUES (1, 'x')")  # fmt: skip
    url = f"local://{tmp_path / 'log'}"
    with pytest.raises(MissingKeyError, match=rf"{db}\.nopk has no primary key"):
        engine(mariadb_dsn, url, [f"{db}.nopk"]).run(max_polls=1)
    with running(engine(mariadb_dsn, url, [f"{db}.nopk"], missing_key="none")):
        got = events(url, f"my.{db}.nopk", 1)
    assert got[0][0] is None and got[0][1].after == {"a": 1, "b": "x"}


def test_missing_table_is_named(mariadb_dsn: str, db: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"table {db}\.ghost does not exist"):
        engine(mariadb_dsn, f"local://{tmp_path}", [f"{db}.ghost"]).run(max_polls=1)


def test_purged_binlog_position_is_reported(mariadb_dsn: str, db: str, tmp_path: Path) -> None:
    sql(mariadb_dsn, f"CREATE TABLE {db}.p (id int PRIMARY KEY)")
    url = f"local://{tmp_path / 'log'}"
    store = tmp_path / "position.json"
    store.write_bytes(orjson.dumps({"file": "binlog.999999", "pos": 4, "gtid": None}))
    with pytest.raises(PositionLostError, match=r"binlog\.999999"):
        engine(mariadb_dsn, url, [f"{db}.p"], offsets=str(store)).run(max_polls=1)


def test_a_killed_binlog_connection_is_resumed(mariadb_dsn: str, db: str, tmp_path: Path) -> None:
    sql(mariadb_dsn, f"CREATE TABLE {db}.r (id int PRIMARY KEY)")
    url = f"local://{tmp_path / 'log'}"
    capture_ = engine(mariadb_dsn, url, [f"{db}.r"], snapshot="never")
    with running(capture_):
        wait_for(lambda: bool(_binlog_dumps(mariadb_dsn)), 30, "the binlog reader")
        sql(mariadb_dsn, *[f"INSERT INTO {db}.r VALUES ({i})" for i in range(50)])
        events(url, f"my.{db}.r", 50)
        killed = _binlog_dumps(mariadb_dsn)
        sql(mariadb_dsn, *[f"KILL CONNECTION {pid}" for pid in killed])
        sql(mariadb_dsn, *[f"INSERT INTO {db}.r VALUES ({i})" for i in range(50, 100)])
        # pymysqlreplication reconnects a lost binlog connection at the byte it stopped at;
        # when that fails too, the engine restarts from the stored position.
        wait_for(lambda: set(_binlog_dumps(mariadb_dsn)) - set(killed) != set(), 60,
                 "a new binlog connection")  # fmt: skip
        got = events(url, f"my.{db}.r", 100)
    assert {v.after["id"] for _, v in got} == set(range(100))


def _binlog_dumps(dsn: str) -> list[int]:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'"
            )
            return [int(row[0]) for row in cur.fetchall()]
    finally:
        conn.close()
