"""One measurement of the state stores, in a fresh process: ``python -m bench.state.cases JSON``.

The JSON names the case (``kv`` or ``window``), the backend and the sizes; the process prints
one ``BENCH_RESULT {...}`` line with its figures. Rates are per CPU second of this process
(user + system, every thread, so RocksDB's background threads count), which a machine shared
with other work disturbs less than wall-clock time; wall-clock rates are reported beside them.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from strom.serde import json as json_serde
from strom.serde import string
from strom.state import open_key_value_store, open_window_store

RESULT_PREFIX = "BENCH_RESULT "
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu() -> float:
    """User + system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss() -> int:
    """Resident bytes now (not the peak)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def timed(action: Callable[[], Any], count: int) -> dict[str, float]:
    """Run ``action`` once; ``count`` operations per CPU second and per wall second."""
    gc.collect()
    wall, cpu0 = time.perf_counter(), cpu()
    action()
    cpu_s, wall_s = cpu() - cpu0, time.perf_counter() - wall
    return {"per_cpu_s": count / max(cpu_s, 1e-9), "per_s": count / max(wall_s, 1e-9)}


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def kv_case(backend: str, keys: int, state_dir: Path) -> dict[str, Any]:
    """put, flush, get (committed and dirty), restore and memory per key of a key-value store."""
    names = [f"user-{i:08d}" for i in range(keys)]
    values = [{"count": i, "sum": i * 1.5, "last": 1_700_000_000_000 + i} for i in range(keys)]
    order = list(range(keys))
    random.Random(7).shuffle(order)
    shuffled = [names[i] for i in order]
    opts: dict[str, Any] = {"backend": backend, "state_dir": state_dir, "app": "bench"}
    out: dict[str, Any] = {}

    store = open_key_value_store("kv", 0, string(), json_serde(), **opts)

    def put_all() -> None:
        put = store.put
        for name, value in zip(names, values, strict=True):
            put(name, value)

    out["put"] = timed(put_all, keys)
    out["get_dirty"] = timed(lambda: [store.get(n) for n in shuffled], keys)
    changes: list[Any] = []
    out["flush"] = timed(lambda: changes.extend(store.flush()), keys)
    out["get"] = timed(lambda: [store.get(n) for n in shuffled], keys)

    def update_all() -> None:  # read-modify-write of committed values, as an aggregator does
        get, put = store.get, store.put
        for name in shuffled:
            value = get(name)
            value["count"] += 1
            put(name, value)

    out["update"] = timed(update_all, keys)
    store.discard()
    store.close()

    # Restore speed into a fresh partition.
    fresh = open_key_value_store("kv", 1, string(), json_serde(), **opts)
    out["restore"] = timed(lambda: fresh.restore(changes), keys)
    fresh.close()
    if backend == "rocksdb":  # closing flushed the memtable: the on-disk size of the copy
        out["disk_bytes_per_key"] = _dir_bytes(state_dir / "bench" / "kv" / "1" / "db") / keys

    # Memory: restore fresh copies of the records (as a consumer hands them over) and take
    # the growth of resident memory.
    gc.collect()
    before = rss()
    held = open_key_value_store("kv", 2, string(), json_serde(), **opts)
    held.restore((k[:1] + k[1:], v[:1] + v[1:] if v else v) for k, v in changes)
    gc.collect()
    out["rss_bytes_per_key"] = (rss() - before) / keys
    held.close()
    out["entry_bytes"] = sum(len(k) + len(v or b"") for k, v in changes) / keys
    return out


def window_case(
    backend: str, keys: int, records: int, commit_every: int, state_dir: Path
) -> dict[str, Any]:
    """A tumbling-window count per key, as the runtime's operator will drive the store.

    Per record: ``get`` + ``put`` of the record's window. Per checkpoint (every
    ``commit_every`` records): ``fetch_all`` of the windows that closed, ``expire`` them,
    ``flush``. Event time advances 1 ms per record; windows of 60 s.
    """
    size = 60_000
    rng = random.Random(11)
    names = [f"user-{rng.randrange(keys):08d}" for _ in range(records)]
    store = open_window_store(
        "w", 0, string(), json_serde(), segment_interval=size, backend=backend,
        state_dir=state_dir, app="bench",
    )  # fmt: skip
    changelog: list[Any] = []
    emitted = 0

    def run() -> None:
        nonlocal emitted
        get, put = store.get, store.put
        closed_until = 0
        for t, name in enumerate(names):
            start = t - t % size
            end = start + size
            value = get(name, start, end)
            put(name, start, end, value + 1 if value is not None else 1)
            if t % commit_every == commit_every - 1:
                # The watermark is t: every window ending by t has closed; emit and expire them.
                last_closed = start - size
                if last_closed >= closed_until:
                    emitted += sum(1 for _ in store.fetch_all(closed_until, last_closed))
                    store.expire(last_closed + size + 1)
                    closed_until = last_closed + size
                changelog.extend(store.flush())

    out: dict[str, Any] = {"agg": timed(run, records)}
    out["emitted"] = emitted
    out["changelog_per_record"] = len(changelog) / records
    store.close()
    fresh = open_window_store(
        "w", 1, string(), json_serde(), segment_interval=size, backend=backend,
        state_dir=state_dir, app="bench",
    )  # fmt: skip
    out["restore"] = timed(lambda: fresh.restore(changelog), len(changelog))
    fresh.close()
    return out


def main() -> None:
    """Run the case given as JSON in argv[1] and print its result line."""
    config: dict[str, Any] = json.loads(sys.argv[1])
    state_dir = Path(tempfile.mkdtemp(prefix="strom-bench-state-"))
    try:
        if config["case"] == "kv":
            result = kv_case(config["backend"], config["keys"], state_dir)
        else:
            result = window_case(
                config["backend"],
                config["keys"],
                config["records"],
                config["commit_every"],
                state_dir,
            )
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
