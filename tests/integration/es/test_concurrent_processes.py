"""Several processes append to the same and to different streams while another follows the
global order: no lost update, no duplicate version, and ``read_all`` never skips or repeats.

The reader checkpoints like a subscriber (it continues after the last position it got), so an
event that committed late with a lower position than one already delivered would be missed
forever; the test checks it delivered exactly 1..N in order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import pytest

from tests.contract.event_store_support import drop_schema, unique_schema
from tests.integration.es import workers

# Small in the suite; `make es-soak` raises them (STROM_ES_SOAK_WRITERS / _APPENDS).
WRITERS = int(os.environ.get("STROM_ES_SOAK_WRITERS", "4"))
APPENDS = int(os.environ.get("STROM_ES_SOAK_APPENDS", "120"))  # per writer: half own, half shared
WAIT = 120.0 + APPENDS / 10


def run_processes(url: str, schema: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    ctx = mp.get_context("spawn")
    results: Any = ctx.Queue()
    verdict: Any = ctx.Queue()
    stop = ctx.Event()
    barrier = ctx.Barrier(WRITERS)
    follower = ctx.Process(target=workers.reader, args=(url, schema, stop, verdict))
    follower.start()
    procs = [
        ctx.Process(target=workers.writer, args=(url, schema, w, APPENDS, barrier, results))
        for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    reports = [results.get(timeout=WAIT) for _ in procs]
    for p in procs:
        p.join(timeout=WAIT)
        assert p.exitcode == 0
    stop.set()
    seen = verdict.get(timeout=WAIT)
    follower.join(timeout=WAIT)
    assert follower.exitcode == 0
    return reports, seen


def check(url: str, schema: str | None) -> None:
    import strom.es as es

    reports, reader = run_processes(url, schema)
    store = es.connect(url, schema=schema) if schema else es.connect(url)
    try:
        every = list(es.iter_all(store))
        shared = store.read("shared")
        own = {w: store.read(f"own-{w}") for w in range(WRITERS)}
    finally:
        store.close()
    total = WRITERS * APPENDS + 1  # + the one winner of the race
    # Dense global order, and the follower got exactly it, in order, once each.
    assert [e.position for e in every] == list(range(1, total + 1))
    assert reader["seen"] == list(range(1, total + 1))
    assert reader["batches"] > 1  # it followed while writers ran, not once at the end
    # No lost update: every acknowledged append is stored, at the version it was told.
    by_id = {str(e.id): (e.stream_id, e.version) for e in every}
    acknowledged = [item for r in reports for item in r["done"]]
    assert len(acknowledged) == total - 1
    for stream, version, event_id in acknowledged:
        assert by_id[event_id] == (stream, version)
    # No duplicate version: versions of each stream are 1..n.
    assert [e.version for e in shared] == list(range(1, WRITERS * APPENDS // 2 + 1))
    for w in range(WRITERS):
        assert [e.version for e in own[w]] == list(range(1, APPENDS // 2 + 1))
    assert len(set(by_id.values())) == len(by_id) == total
    # Of the writers racing to create one stream with NO_STREAM, exactly one won.
    assert sorted(r["won"] for r in reports) == [False] * (WRITERS - 1) + [True]


@pytest.mark.postgres
def test_postgres_concurrent_processes(postgres_dsn: str) -> None:
    schema = unique_schema("conc")
    try:
        check(postgres_dsn, schema)
    finally:
        drop_schema(postgres_dsn, schema)


def test_sqlite_concurrent_processes(tmp_path: Path) -> None:
    check(f"sqlite://{tmp_path / 'events.db'}", None)
