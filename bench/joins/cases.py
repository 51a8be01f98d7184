"""One measurement of a join core, in a fresh process: ``python -m bench.joins.cases JSON``.

The JSON names the case (``enrich`` or ``windowed``), the backend and the sizes; the process
prints one ``BENCH_RESULT {...}`` line. Rates are records per CPU second of this process (user
+ system, all threads, so RocksDB's background threads count); wall-clock rates beside them.
Only the cores and their stores run: no log, no serde of input records, no runtime.
"""

from __future__ import annotations

import gc
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from strom.joins import (
    StreamTableJoin,
    TableCore,
    WindowedJoin,
    open_join_stores,
    open_table_store,
    within,
)
from strom.serde import json as json_serde
from strom.serde import string

RESULT_PREFIX = "BENCH_RESULT "


def cpu() -> float:
    """User + system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(action: Callable[[], Any], count: int) -> dict[str, float]:
    """Run ``action`` once; ``count`` records per CPU second and per wall second."""
    gc.collect()
    wall, cpu0 = time.perf_counter(), cpu()
    action()
    cpu_s, wall_s = cpu() - cpu0, time.perf_counter() - wall
    return {"per_cpu_s": count / max(cpu_s, 1e-9), "per_s": count / max(wall_s, 1e-9)}


def enrich_case(
    backend: str, keys: int, events: int, commit_every: int, state_dir: Path
) -> dict[str, Any]:
    """Stream-table enrichment: a committed table of ``keys`` users (JSON rows), then
    ``events`` orders with random user keys (10% of them unknown) through a left join that
    merges the user's tier into the order. A checkpoint (table flush) every ``commit_every``
    events, as the runtime would; the table is not updated meanwhile, so every lookup reads
    committed storage (the costly path)."""
    rng = random.Random(3)
    store = open_table_store(
        "users", 0, string(), json_serde(), backend=backend, state_dir=state_dir, app="bench"
    )
    table = TableCore(store)

    def load() -> None:
        upsert = table.upsert
        for i in range(keys):
            upsert(f"user-{i:08d}", {"name": f"n{i}", "tier": ("free", "pro")[i % 2]}, i)
        store.flush()

    out: dict[str, Any] = {"load": timed(load, keys)}
    unknown = keys + keys // 9
    users = [f"user-{rng.randrange(unknown):08d}" for _ in range(events)]
    orders = [{"order": i, "amount": i % 100} for i in range(events)]
    join = StreamTableJoin(
        table, lambda o, u: {**o, "tier": None if u is None else u["tier"]}, how="left"
    )
    matched = 0

    def run() -> None:
        nonlocal matched
        process = join.process
        for i in range(events):
            value = process(users[i], orders[i], i).value
            if value["tier"] is not None:
                matched += 1
            if i % commit_every == commit_every - 1:
                store.flush()

    out["join"] = timed(run, events)
    out["matched"] = matched / events
    store.close()
    return out


def windowed_case(
    backend: str, keys: int, records: int, commit_every: int, state_dir: Path
) -> dict[str, Any]:
    """Impressions joined with clicks (left join, ``within(10 s)``): ``records`` records in
    all, impressions 2 ms apart over ``keys`` ad keys, 70% followed by a click 0-5 s later;
    arrival in timestamp order with up to 200 ms of disorder; watermark = the largest
    timestamp - 1 s. Every ``commit_every`` records a checkpoint: ``expire()`` and both stores
    flushed."""
    rng = random.Random(5)
    events: list[tuple[int, str, str, int]] = []  # (ts, side, key, id)
    t = 0
    while len(events) < records:
        key = f"ad-{rng.randrange(keys):07d}"
        events.append((t, "L", key, len(events)))
        if rng.random() < 0.7:
            events.append((t + rng.randrange(5_000), "R", key, len(events)))
        t += 2
    events = events[:records]
    events.sort(key=lambda e: e[0] + rng.randrange(200))  # arrival: slightly out of order
    window = within(10_000)
    left, right = open_join_stores(
        "clicks", 0, string(), json_serde(), json_serde(), window,
        backend=backend, state_dir=state_dir, app="bench",
    )  # fmt: skip
    join = WindowedJoin(left, right, lambda i, c: (i, c), window=window, how="left")
    counts = {"pairs": 0, "unmatched": 0, "late": 0, "changelog": 0}

    def count(outputs: list[Any]) -> None:
        for output in outputs:
            counts["pairs" if output.value[1] is not None else "unmatched"] += 1

    def run() -> None:
        high = 0
        process_left, process_right = join.process_left, join.process_right
        for n, (ts, side, key, ident) in enumerate(events):
            high = max(high, ts)
            value = {"id": ident, "ts": ts}
            process = process_left if side == "L" else process_right
            result = process(key, value, ts, high - 1_000)
            if result.outputs:
                count(result.outputs)
            counts["late"] += result.late
            if n % commit_every == commit_every - 1:
                join.expire()
                counts["changelog"] += len(left.flush()) + len(right.flush())
        count(join.advance(high + 60_000))
        join.expire()
        counts["changelog"] += len(left.flush()) + len(right.flush())

    out: dict[str, Any] = {"join": timed(run, records)}
    out.update(counts)
    out["changelog_per_record"] = counts["changelog"] / records
    left.close()
    right.close()
    return out


def main() -> None:
    """Run the case given as JSON in argv[1] and print its result line."""
    config: dict[str, Any] = json.loads(sys.argv[1])
    state_dir = Path(tempfile.mkdtemp(prefix="strom-bench-joins-"))
    try:
        case = enrich_case if config["case"] == "enrich" else windowed_case
        size = config["events"] if config["case"] == "enrich" else config["records"]
        result = case(config["backend"], config["keys"], size, config["commit_every"], state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
