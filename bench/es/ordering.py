"""The event store's one hard problem, measured: how appends get a gap-free global order.

Three schemes on the same PostgreSQL, each with W writer processes appending 1-event commits
to their own streams for a fixed time, while one reader process follows the global order and
checkpoints as a subscriber would:

* ``serial``: a one-row position counter updated in the append's transaction (its row lock is
  held to commit, so positions commit in order and are dense). What ``strom.es`` does.
* ``xid8``: a ``bigserial`` position plus the writer's ``pg_current_xact_id()``; readers take
  only rows below ``pg_snapshot_xmin(pg_current_snapshot())`` in ``(xid, position)`` order.
* ``advisory``: a transaction-scoped advisory lock (held to commit), then the position after
  the last event: ordered and dense like ``serial`` without writing a counter row.
* ``strom``: ``strom.es``'s PostgreSQL store itself (its append function: the ``serial``
  scheme plus the version check, event columns and NOTIFY; its Python client; ``read_all``).
* ``naive``: a ``bigserial`` position read in position order with no guard: the sequence-gap
  problem itself (a reader passes over late-committing lower positions).

After the writers stop, the reader's set is compared with the table: an event the reader never
delivered although it is committed below the reader's checkpoint is a skip.

    python -m bench.es.ordering --dsn postgresql://strom@127.0.0.1:PORT/strom \
        [--writers 1,2,4,8] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from typing import Any

import psycopg

import strom.es as es

SCHEMES = ("strom", "serial", "advisory", "xid8", "naive")


def setup(dsn: str, scheme: str) -> str:
    schema = f"bench_order_{scheme}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        if scheme == "strom":
            es.connect(dsn, schema=schema).close()
            return schema
        conn.execute(f"CREATE SCHEMA {schema}")
        if scheme in ("serial", "advisory"):
            conn.execute(
                f"CREATE TABLE {schema}.events (position bigint PRIMARY KEY, stream text NOT NULL,"
                " version int NOT NULL, data bytea, UNIQUE (stream, version))"
            )
            conn.execute(f"CREATE TABLE {schema}.counter (id int PRIMARY KEY, last bigint)")
            conn.execute(f"INSERT INTO {schema}.counter VALUES (1, 0)")
            # Statements after the lock need their own snapshot: a VOLATILE PL/pgSQL function.
            conn.execute(
                f"CREATE FUNCTION {schema}.append(s text, v int, d bytea) RETURNS void"
                " LANGUAGE plpgsql VOLATILE AS $$ BEGIN PERFORM pg_advisory_xact_lock(7227);"
                f" INSERT INTO {schema}.events SELECT coalesce(max(position), 0) + 1, s, v, d"
                f" FROM {schema}.events; END $$"
            )
        else:
            conn.execute(
                f"CREATE TABLE {schema}.events (position bigserial PRIMARY KEY,"
                " xid xid8 NOT NULL DEFAULT pg_current_xact_id(), stream text NOT NULL,"
                " version int NOT NULL, data bytea, UNIQUE (stream, version))"
            )
            conn.execute(f"CREATE INDEX ON {schema}.events (xid, position)")
    return schema


def strom_writer(dsn: str, schema: str, wid: int, seconds: float, out: Any) -> None:
    store = es.connect(dsn, schema=schema)
    event = [es.NewEvent("Deposited", b'{"amount": 10}')]
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        store.append(f"w{wid}", event, n)
        n += 1
    store.close()
    out.put(n)


def writer(dsn: str, scheme: str, schema: str, wid: int, seconds: float, out: Any) -> None:
    if scheme == "strom":
        strom_writer(dsn, schema, wid, seconds, out)
        return
    if scheme == "serial":
        sql = (
            f"WITH p AS (UPDATE {schema}.counter SET last = last + 1 WHERE id = 1 RETURNING last)"
            f" INSERT INTO {schema}.events SELECT p.last, %s, %s, %s FROM p"
        )
    elif scheme == "advisory":
        sql = f"SELECT {schema}.append(%s, %s, %s)"
    else:
        sql = f"INSERT INTO {schema}.events (stream, version, data) VALUES (%s, %s, %s)"
    data = b'{"amount": 10}'
    n = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            n += 1
            conn.execute(sql, (f"w{wid}", n, data), prepare=True)
    out.put(n)


def reader(dsn: str, scheme: str, schema: str, stop: Any, out: Any) -> None:
    """Follows the global order with a checkpoint, as a catch-up subscriber does."""
    seen: set[int] = set()
    gaps_in_positions = 0
    cursor: tuple[int, int] = (0, 0)
    last_pos = 0
    store = es.connect(dsn, schema=schema) if scheme == "strom" else None
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            stopping = stop.is_set()
            if store is not None:
                events = store.read_all(last_pos + 1, limit=1000)
                rows = [(e.position,) for e in events]
                for (pos,) in rows:
                    if pos != last_pos + 1:
                        gaps_in_positions += 1
                    last_pos = pos
                    seen.add(pos)
            elif scheme == "xid8":
                rows = conn.execute(
                    f"SELECT xid::text::bigint, position FROM {schema}.events"
                    " WHERE (xid::text::bigint, position) > (%s, %s)"
                    " AND xid < pg_snapshot_xmin(pg_current_snapshot())"
                    " ORDER BY xid, position LIMIT 1000",
                    cursor,
                ).fetchall()
                if rows:
                    cursor = (int(rows[-1][0]), int(rows[-1][1]))
                seen.update(int(r[1]) for r in rows)
            else:
                rows = conn.execute(
                    f"SELECT position FROM {schema}.events WHERE position > %s"
                    " ORDER BY position LIMIT 1000",
                    (last_pos,),
                ).fetchall()
                for (pos,) in rows:
                    if pos != last_pos + 1:
                        gaps_in_positions += 1
                    last_pos = pos
                    seen.add(pos)
            if not rows:
                if stopping:
                    break
                time.sleep(0.002)
        total = conn.execute(f"SELECT count(*) FROM {schema}.events").fetchone()
        all_positions = {
            int(r[0]) for r in conn.execute(f"SELECT position FROM {schema}.events").fetchall()
        }
    if store is not None:
        store.close()
    out.put(
        {
            "delivered": len(seen),
            "committed": int(total[0]) if total else 0,
            "skipped": len(all_positions - seen),
            "position_holes_seen": gaps_in_positions,
        }
    )


def run(dsn: str, scheme: str, writers: int, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    schema = setup(dsn, scheme)
    counts: Any = ctx.Queue()
    verdict: Any = ctx.Queue()
    stop = ctx.Event()
    rd = ctx.Process(target=reader, args=(dsn, scheme, schema, stop, verdict))
    rd.start()
    procs = [
        ctx.Process(target=writer, args=(dsn, scheme, schema, i, seconds, counts))
        for i in range(writers)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    appended = sum(counts.get(timeout=seconds + 60) for _ in procs)
    elapsed = time.monotonic() - started
    for p in procs:
        p.join(timeout=30)
    stop.set()
    result = verdict.get(timeout=120)
    rd.join(timeout=30)
    return {
        "scheme": scheme,
        "writers": writers,
        "appends": appended,
        "appends_per_s": round(appended / elapsed),
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--writers", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--schemes", default=",".join(SCHEMES))
    args = parser.parse_args()
    for w in [int(x) for x in args.writers.split(",")]:
        for scheme in args.schemes.split(","):
            print(json.dumps(run(args.dsn, scheme, w, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
