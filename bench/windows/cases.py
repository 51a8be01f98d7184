"""One measurement of the window operator, in a fresh process: ``python -m bench.windows.cases
JSON``.

The JSON names the case: ``aggregation`` (``count``, ``sum``, or ``store-only`` = the same
store work written by hand, as ``bench.state`` does, for the operator's own cost), ``emit``,
the backend and the sizes. The process prints one ``BENCH_RESULT {...}`` line. Rates are per
CPU second of this process (user + system, all threads).

The run is what a task does: per record ``process(key, value, t, watermark)`` with event time
+1 ms per record over random keys (tumbling 60 s windows), ``advance(watermark)`` once per
batch of 500 records (a poll), and a checkpoint (``store.flush()``) every 50,000 records.
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
from pathlib import Path
from typing import Any

from strom.serde import string
from strom.state import open_window_store
from strom.windows import LATE, NO_WATERMARK, WindowedAggregation, store_spec, tumbling
from strom.windows import aggregations as agg

RESULT_PREFIX = "BENCH_RESULT "
SIZE = 60_000
BATCH = 500


def cpu() -> float:
    """User + system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _aggregation(name: str) -> agg.Aggregation[Any, Any]:
    if name == "sum":
        return agg.sum(lambda e: e["amount"])
    return agg.count()


def run_case(config: dict[str, Any], state_dir: Path) -> dict[str, Any]:
    """Run one case; its figures."""
    keys, records, commit_every = config["keys"], config["records"], config["commit_every"]
    rng = random.Random(11)
    events = [
        (f"user-{rng.randrange(keys):08d}", {"amount": rng.randrange(100)}) for _ in range(records)
    ]
    window = tumbling(SIZE)
    aggregation = _aggregation(config["aggregation"])
    spec = store_spec(window, aggregation)
    store = open_window_store(
        "w", 0, string(), spec.value_serde, segment_interval=spec.segment_interval,
        backend=config["backend"], state_dir=state_dir, app="bench",
    )  # fmt: skip
    changelog: list[Any] = []
    emitted = 0
    late = 0

    def operator_loop() -> None:
        nonlocal emitted, late
        op = WindowedAggregation(window, aggregation, store, emit=config["emit"])
        process, advance = op.process, op.advance
        watermark = NO_WATERMARK
        for t, (key, value) in enumerate(events):
            out = process(key, value, t, watermark)
            if out is LATE:
                late += 1
            else:
                emitted += len(out)
            watermark = t
            if t % BATCH == BATCH - 1:
                emitted += len(advance(watermark))
                process, advance = op.process, op.advance
            if t % commit_every == commit_every - 1:
                changelog.extend(store.flush())

    def store_only_loop() -> None:
        # bench.state's windowed count: get + put per record; at each batch, the closed
        # windows are read (fetch_all) and expired when a window boundary was passed.
        nonlocal emitted
        get, put = store.get, store.put
        closed_until = 0
        for t, (key, _) in enumerate(events):
            start = t - t % SIZE
            end = start + SIZE
            value = get(key, start, end)
            put(key, start, end, value + 1 if value is not None else 1)
            if t % BATCH == BATCH - 1:
                last_closed = start - SIZE
                if last_closed >= closed_until:
                    emitted += sum(1 for _ in store.fetch_all(closed_until, last_closed))
                    store.expire(last_closed + SIZE + 1)
                    closed_until = last_closed + SIZE
            if t % commit_every == commit_every - 1:
                changelog.extend(store.flush())

    loop = store_only_loop if config["aggregation"] == "store-only" else operator_loop
    gc.collect()
    wall, cpu0 = time.perf_counter(), cpu()
    loop()
    cpu_s, wall_s = cpu() - cpu0, time.perf_counter() - wall
    store.close()
    return {
        "per_cpu_s": records / max(cpu_s, 1e-9),
        "per_s": records / max(wall_s, 1e-9),
        "us_cpu_per_record": cpu_s / records * 1e6,
        "emitted": emitted,
        "late": late,
        "changelog_per_record": len(changelog) / records,
    }


def main() -> None:
    """Run the case given as JSON in argv[1] and print its result line."""
    config: dict[str, Any] = json.loads(sys.argv[1])
    state_dir = Path(tempfile.mkdtemp(prefix="strom-bench-windows-"))
    try:
        result = run_case(config, state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
