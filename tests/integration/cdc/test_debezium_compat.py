"""strom's PostgreSQL capture against Debezium 3.6.1's own, on the same changes.

Debezium's embedded engine (``scripts/debezium``, Java, jars from Maven Central) and strom
capture the same tables of the same database, each through its own slot; the envelopes
(key and value, schema and payload) must agree field by field, apart from what is per run:
timestamps, LSNs, transaction ids, ``source.version``. One command runs it alone:
``make cdc-compat``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import psycopg2.extensions
import pytest

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
)

pytestmark = [pytest.mark.postgres, pytest.mark.debezium]

REPO = Path(__file__).resolve().parents[3]
ENGINE = REPO / "scripts" / "debezium" / "engine.py"

TYPES_DDL = """
CREATE TYPE {s}.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE {s}.types (
  id serial PRIMARY KEY,
  n numeric(10,2), n0 numeric(12), nv numeric, i2 smallint, i4 integer NOT NULL DEFAULT 7,
  i8 bigint, f4 real, f8 double precision, b boolean DEFAULT true,
  ts timestamp, ts3 timestamp(3), tstz timestamptz, tstz3 timestamptz(3), d date,
  tm time, tm0 time(0), tmtz timetz, iv interval,
  j json, jb jsonb, ia integer[], i8a bigint[], ta text[], na numeric(5,1)[], ba boolean[],
  by bytea, u uuid, m {s}.mood, mo money,
  vc varchar(10) DEFAULT 'new', c char(3), tx text, inet inet, cidr cidr, mac macaddr,
  bit1 bit(1), bits bit(10), vb varbit(20), x xml, pt point
);
CREATE TABLE {s}.composite (a integer, b text, v text, PRIMARY KEY (a, b));
CREATE TABLE {s}.toasty (id integer PRIMARY KEY, big text, small integer);
"""

ROW = """
INSERT INTO {s}.types (n, n0, nv, i2, i8, f4, f8, b, ts, ts3, tstz, tstz3, d, tm, tm0, tmtz,
  iv, j, jb, ia, i8a, ta, na, ba, by, u, m, mo, vc, c, tx, inet, cidr, mac, bit1, bits, vb, x, pt)
VALUES ({n}, 123456789012, {nv}, -32768, 9223372036854775807, 1.1, -2.5e-300, false,
  '2024-01-02 03:04:05.123456', '1969-12-31 23:59:59.999', '2024-06-30 23:59:59.5+05:30',
  '2024-01-02 03:04:05.1234+00', '1900-02-28', '23:59:59.999999', '12:00:01', '03:04:05.5-08',
  '-1 years -2 mons +3 days -04:05:06.25', '{{"a": [1, "é"]}}', '{{"b": null, "a": 1.50}}',
  '{{1,2,NULL}}', '{{-9223372036854775808}}', '{{"a b","c,d",NULL,"e\\"f"}}',
  '{{1.5,-2.0,NULL}}', '{{true,false}}', '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  'happy', -1234.56, 'vc', 'ab', 'Zürich 🚀 "quoted" \\ back', '10.0.0.1', '10.1.0.0/16',
  '08:00:2b:01:02:03', B'1', B'1010101010', B'000101', '<a b="1"/>', '(1.5,-2)')
"""


def debezium_properties(dsn: str, prefix: str, slot: str, tables: list[str], path: Path) -> Path:
    info = psycopg2.extensions.parse_dsn(dsn)
    props = {
        "name": prefix,
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "offset.storage": "org.apache.kafka.connect.storage.MemoryOffsetBackingStore",
        "offset.flush.interval.ms": "1000",
        "database.hostname": info.get("host", "127.0.0.1"),
        "database.port": info.get("port", "5432"),
        "database.user": info.get("user", "postgres"),
        "database.password": info.get("password", ""),
        "database.dbname": info.get("dbname", "postgres"),
        "topic.prefix": prefix,
        "plugin.name": "pgoutput",
        "slot.name": slot,
        "publication.name": slot,
        "publication.autocreate.mode": "filtered",
        "table.include.list": ",".join(t.replace(".", "\\.") for t in tables),
        "skipped.operations": "none",
        "strom.out": "stdout",
    }
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


# What differs between two captures by design: when they ran, positions, and the version.
PER_RUN_SOURCE = {"version", "ts_ms", "ts_us", "ts_ns", "lsn", "sequence", "txId"}
PER_RUN_ENVELOPE = {"ts_ms", "ts_us", "ts_ns"}


def normalize(value: Any) -> Any:
    if value is None:
        return None
    payload = {k: v for k, v in value["payload"].items() if k not in PER_RUN_ENVELOPE}
    payload["source"] = {k: v for k, v in payload["source"].items() if k not in PER_RUN_SOURCE}
    return {"schema": value["schema"], "payload": payload}


def differences(path: str, ours: Any, theirs: Any) -> list[str]:
    """Field paths where two JSON values differ, with both values."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        for key in sorted(set(ours) | set(theirs)):
            if key not in ours or key not in theirs:
                out.append(f"{path}.{key}: strom={ours.get(key, '<missing>')!r} "
                           f"debezium={theirs.get(key, '<missing>')!r}")  # fmt: skip
            else:
                out.extend(differences(f"{path}.{key}", ours[key], theirs[key]))
        return out
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        out = []
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            out.extend(differences(f"{path}[{i}]", a, b))
        return out
    if ours != theirs or type(ours) is not type(theirs):
        return [f"{path}: strom={ours!r} debezium={theirs!r}"]
    return []


def test_envelopes_agree_with_debezium(postgres_dsn: str, tmp_path: Path) -> None:
    schema = f"compat_{uid()}"
    prefix = "compat"
    tables = [f"{schema}.types", f"{schema}.composite", f"{schema}.toasty"]
    dbz_slot, strom_slot = f"dbz_{schema}", f"strom_{schema}"
    pg_exec(postgres_dsn, f"CREATE SCHEMA {schema}", TYPES_DDL.format(s=schema))
    pg_exec(
        postgres_dsn,
        ROW.format(s=schema, n="12.34", nv="1.50"),
        ROW.format(s=schema, n="-0.01", nv="100"),
        f"INSERT INTO {schema}.types (id) VALUES (100)",
        f"INSERT INTO {schema}.composite VALUES (1, 'x', 'first'), (2, 'y', 'second')",
        f"INSERT INTO {schema}.toasty VALUES (1, repeat('big', 5000), 1)",
    )
    out_file = tmp_path / "debezium.jsonl"
    props = debezium_properties(postgres_dsn, prefix, dbz_slot, tables, tmp_path / "dbz.properties")
    url = f"local://{tmp_path / 'log'}"
    engine = pg_engine(postgres_dsn, url, tables, slot=strom_slot, prefix=prefix)
    with out_file.open("wb") as out, (tmp_path / "debezium.log").open("wb") as err:
        java = subprocess.Popen(
            [sys.executable, str(ENGINE), "run", str(props)], stdout=out, stderr=err
        )
        try:
            with running(engine):
                slots = "SELECT count(*) FROM pg_replication_slots WHERE slot_name IN (%s, %s)"
                wait_for(
                    lambda: (
                        pg_query(postgres_dsn, slots, (dbz_slot, strom_slot))[0][0] == 2
                        or java.poll() is not None
                    ),
                    180,
                    "both replication slots",
                )
                assert java.poll() is None, (tmp_path / "debezium.log").read_text()[-3000:]
                # TRUNCATE is not MVCC-safe: a snapshot still reading would see it. So the
                # changes start once both snapshots are complete.
                wait_for(
                    lambda: count_lines(out_file) >= SNAPSHOT_ROWS or java.poll() is not None,
                    120,
                    "Debezium's snapshot",
                )
                wait_for(
                    lambda: (
                        sum(len(read_topic(url, f"{prefix}.{t}")) for t in tables) >= SNAPSHOT_ROWS
                    ),
                    60,
                    "strom's snapshot",
                )
                apply_changes(postgres_dsn, schema)
                expected = expected_records()
                wait_for(
                    lambda: count_lines(out_file) >= expected or java.poll() is not None,
                    120,
                    f"{expected} Debezium records",
                )
                wait_for(
                    lambda: sum(len(read_topic(url, f"{prefix}.{t}")) for t in tables) >= expected,
                    60,
                    f"{expected} strom records",
                )
        finally:
            java.send_signal(signal.SIGTERM)
            try:
                java.wait(30)
            except subprocess.TimeoutExpired:
                java.kill()
            drop_slot(postgres_dsn, dbz_slot, dbz_slot)
            drop_slot(postgres_dsn, strom_slot, strom_slot)
    theirs: dict[str, list[tuple[Any, Any]]] = {}
    for line in out_file.read_bytes().splitlines():
        event = orjson.loads(line)
        theirs.setdefault(event["topic"], []).append((event["key"], event["value"]))
    problems = []
    for table in tables:
        topic = f"{prefix}.{table}"
        ours = [(k, v) for k, v, _ in read_topic(url, topic)]
        dbz = theirs.get(topic, [])
        assert len(ours) == len(dbz), f"{topic}: strom wrote {len(ours)}, Debezium {len(dbz)}"
        for i, ((ok, ov), (dk, dv)) in enumerate(zip(ours, dbz, strict=True)):
            problems += differences(f"{topic}[{i}].key", ok, dk)
            problems += differences(f"{topic}[{i}].value", normalize(ov), normalize(dv))
    assert not problems, "\n".join(problems[:60])


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def apply_changes(dsn: str, s: str) -> None:
    pg_exec(
        dsn,
        ROW.format(s=s, n="99999999.99", nv="-123456789.000123456789"),
        f"UPDATE {s}.types SET tx = 'changed', n = NULL WHERE id = 1",
        f"UPDATE {s}.types SET i4 = 8 WHERE id = 100",
        f"DELETE FROM {s}.types WHERE id = 2",
        f"UPDATE {s}.composite SET v = 'renamed' WHERE a = 1",
        f"UPDATE {s}.composite SET b = 'z' WHERE a = 2",  # a key change
        f"UPDATE {s}.toasty SET small = 2 WHERE id = 1",  # 'big' is unchanged TOAST
        f"ALTER TABLE {s}.composite ADD COLUMN extra numeric(4,2) DEFAULT 1.5",
        f"INSERT INTO {s}.composite VALUES (3, 'w', 'after alter', 2.25)",
    )
    pg_tx(
        dsn,
        f"INSERT INTO {s}.composite (a, b) VALUES (4, 'tx')",
        f"UPDATE {s}.composite SET v = 'in tx' WHERE a = 4",
        f"DELETE FROM {s}.composite WHERE a = 4",
    )
    pg_exec(dsn, f"TRUNCATE {s}.toasty")


SNAPSHOT_ROWS = 3 + 2 + 1


def expected_records() -> int:
    snapshot = SNAPSHOT_ROWS
    # insert, 2 updates, delete + tombstone; update, key change (delete + tombstone + create),
    # toast update, insert after alter, tx (insert, update, delete + tombstone), truncate
    return snapshot + 5 + 1 + 3 + 1 + 1 + 4 + 1


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", *sys.argv[1:]]))
