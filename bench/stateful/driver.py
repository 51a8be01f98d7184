"""Running the stateful workloads: fill the input once, run each implementation in a fresh
process (repetitions interleaved), check its output against the reference, restore strom's
changelogs into fresh processes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from bench.context import Context, RepResult
from bench.proc import Child
from bench.spec import Impl
from bench.stateful import data, verify

PKG = "bench.stateful"


@dataclass(frozen=True)
class StatefulImpl:
    """An implementation and what the runner does around it.

    Attributes:
        impl: the script and its venv.
        check: ``windows`` (output = the reference windows), ``logins`` (output count = the
            logins of the input) or ``empty`` (no output).
        restore: the kind of store whose changelog this run leaves for the restore phase
            (``window`` or ``key-value``), or "".
    """

    impl: Impl
    check: str
    restore: str = ""


def _impl(name: str, label: str, module: str, family: str, **kw: Any) -> Impl:
    return Impl(name, label, f"{PKG}.{module}", family, **kw)


IMPLS: tuple[StatefulImpl, ...] = (
    StatefulImpl(
        _impl(
            "raw",
            "hand-written confluent-kafka loop, state in a dict",
            "raw_loop",
            "raw",
            note="no store, no changelog: a crash loses the open windows",
        ),
        "windows",
    ),
    StatefulImpl(
        _impl(
            "strom-rocksdb",
            "strom, RocksDB store",
            "strom_app",
            "strom",
            config={"mode": "windowed", "backend": "rocksdb"},
        ),
        "windows",
        restore="window",
    ),
    StatefulImpl(
        _impl(
            "strom-memory",
            "strom, in-memory store",
            "strom_app",
            "strom",
            config={"mode": "windowed", "backend": "memory"},
        ),
        "windows",
    ),
    StatefulImpl(
        _impl(
            "quix",
            "Quix Streams (RocksDB, changelog topics)",
            "quix_app",
            "quix",
            env="quix",
        ),
        "windows",
    ),
    StatefulImpl(
        _impl(
            "strom-stateless",
            "strom, stateless pipeline (filter + map) on the same input",
            "strom_app",
            "strom",
            config={"mode": "stateless", "backend": "memory"},
        ),
        "logins",
    ),
    StatefulImpl(
        _impl(
            "strom-kv-rocksdb",
            "strom, count per key (key-value store, RocksDB)",
            "strom_app",
            "strom",
            config={"mode": "kv-count", "backend": "rocksdb"},
        ),
        "empty",
        restore="key-value",
    ),
    StatefulImpl(
        _impl(
            "strom-kv-memory",
            "strom, count per key (key-value store, memory)",
            "strom_app",
            "strom",
            config={"mode": "kv-count", "backend": "memory"},
        ),
        "empty",
    ),
)


@dataclass
class Input:
    """The run's input topic and what a correct run produces from it."""

    topic: str
    records: int
    reference: data.Windows
    logins: int
    keys: int


@dataclass
class Finished:
    """A run whose output topic and changelogs the restore phase still needs."""

    impl: StatefulImpl
    config: dict[str, Any]
    out: str
    group: str
    extra: dict[str, Any] = field(default_factory=dict)


def fill(ctx: Context) -> Input:
    """Create and fill the input topic (explicit partitions, see :mod:`bench.stateful.data`)."""
    assert ctx.kafka is not None
    n, parts = ctx.settings.records, ctx.settings.partitions
    topic = ctx.name("windowed-events")
    print(f"[bench] filling {topic} with {n:,} events ...", flush=True)
    started = time.monotonic()
    ctx.kafka.create([topic], parts)
    producer = Producer(
        {
            "bootstrap.servers": ctx.kafka.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.size": 1_000_000,
        }
    )
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for i, (p, key, value) in enumerate(data.encoded(n, parts)):
        while True:
            try:
                producer.produce(topic, value, key, partition=p, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120) or failures:
        raise SystemExit(f"pre-filling {topic} failed: {failures[:3]}")
    reference, logins, keys = data.reference(n, parts)
    print(
        f"[bench]   filled in {time.monotonic() - started:.1f} s: {len(reference):,} windows "
        f"to emit, {logins:,} logins, {keys:,} keys",
        flush=True,
    )
    return Input(topic, n, reference, logins, keys)


def run_one(
    ctx: Context, si: StatefulImpl, rep: int, inp: Input, wrap: list[str] | None = None
) -> tuple[RepResult, Finished | None]:
    """One repetition of one implementation; the output topic and group stay (the caller
    drops them with :func:`drop`)."""
    assert ctx.kafka is not None
    impl = si.impl
    res = RepResult("windowed", "", impl.name, rep, ok=False)
    python, why = ctx.python(impl)
    if python is None:
        res.error, res.info["fatal"] = f"{impl.env} venv unavailable: {why}", True
        return res, None
    out = ctx.name("windowed", impl.name, rep, "out")
    group = ctx.name("windowed", impl.name, rep)
    ctx.kafka.create([out], ctx.settings.partitions)
    config: dict[str, Any] = {
        "settings": ctx.settings.child(),
        "partitions": ctx.settings.partitions,
        "bootstrap": ctx.kafka.bootstrap,
        "url": f"kafka://{ctx.kafka.bootstrap}",
        **impl.config,
        "input_topic": inp.topic,
        "output_topic": out,
        "group": group,
        "records": inp.records,
        "state_dir": str(ctx.tmp(f"{impl.name}-state")),
    }
    child = Child(python, impl.module, config, ctx.logs, f"windowed-{impl.name}-{rep}", wrap=wrap)
    done = child.wait(ctx.settings.timeout_s)
    finished = Finished(si, config, out, group)
    res.info.update(returncode=done.returncode, timed_out=done.timed_out)
    if done.result is None:
        res.error = f"exit {done.returncode}, no result line. stderr:\n{done.error_tail()}"
        res.info["fatal"] = done.returncode != 0 and not done.timed_out
        return res, finished
    figures = done.result
    consumed = int(figures["consumed"])
    row = {
        "records_per_s": float(figures["records_per_s"]),
        "elapsed_s": float(figures["elapsed_s"]),
        "cpu_s": float(figures["cpu_s"]),
        "cpu_s_per_m": float(figures["cpu_s"]) / max(consumed, 1) * 1e6,
        "cpu_total_s": done.cpu_total_s,
        "wall_s": done.wall_s,
        "rss_mib": done.max_rss_mib,
        "consumed": consumed,
    }
    problems = []
    if consumed != inp.records:
        problems.append(f"consumed {consumed} of {inp.records}")
    msgs = verify.read_all(ctx.kafka.bootstrap, out, ctx.settings.partitions)
    row["outputs"] = len(msgs)
    if si.check == "windows":
        check = verify.check_windows(msgs, inp.reference)
        res.info["check"] = check.describe()
        res.info["duplicates"] = check.duplicates
        if not check.ok:
            problems.append(f"output differs from the reference: {check.describe()}")
    elif si.check == "logins" and len(msgs) != inp.logins:
        problems.append(f"output has {len(msgs)} records, expected {inp.logins}")
    elif si.check == "empty" and msgs:
        problems.append(f"output has {len(msgs)} records, expected none")
    ends = ctx.kafka.end_offsets(inp.topic)
    committed = ctx.kafka.committed(group, inp.topic)
    behind = {p: (committed.get(p), e) for p, e in ends.items() if committed.get(p) != e}
    if behind:
        problems.append(f"committed != end offset: {behind}")
    res.rows[""] = row
    res.info["child"] = {k: v for k, v in figures.items() if not isinstance(v, float)}
    res.ok = not problems
    res.error = "; ".join(problems)
    return res, finished


def restore_one(ctx: Context, source: Finished, backend: str, rep: int) -> RepResult:
    """Restore the stores of ``source``'s application into a fresh process with ``backend``
    and an empty state directory."""
    kind = source.impl.restore
    res = RepResult("restore", kind, backend, rep, ok=False)
    config = {
        **source.config,
        "backend": backend,
        "state_dir": str(ctx.tmp(f"restore-{backend}")),
    }
    child = Child(
        Path(ctx.python(source.impl.impl)[0] or "python"),
        f"{PKG}.restore",
        config,
        ctx.logs,
        f"restore-{kind}-{backend}-{rep}",
    )
    done = child.wait(300.0)
    figures = done.result
    if figures is None or "error" in figures:
        why = figures["error"] if figures else f"exit {done.returncode}: {done.error_tail()}"
        res.error = f"restore failed: {why}"
        return res
    entries = int(figures["entries"])
    res.rows[""] = {
        "entries": entries,
        "window_s": float(figures["window_s"]),
        "entries_per_s": float(figures["entries_per_s"]),
        "cpu_s_per_m": float(figures["cpu_s"]) / max(entries, 1) * 1e6,
        "rss_growth_mib": float(figures["rss_growth_bytes"]) / 2**20,
        "rss_mib": done.max_rss_mib,
    }
    res.ok = entries > 0 and entries == int(figures["announced"])
    if not res.ok:
        res.error = f"restored {entries} of {figures['announced']} announced records"
    return res


def drop(ctx: Context, finished: Finished) -> None:
    """Delete a run's output topic and group."""
    assert ctx.kafka is not None
    ctx.kafka.delete([finished.out])
    ctx.kafka.delete_group(finished.group)


def print_result(res: RepResult) -> None:
    """One progress line."""
    row = res.rows.get("", {})
    if res.workload == "restore":
        text = (
            f"{row.get('entries', 0):>8,.0f} entries in {row.get('window_s', 0):.2f} s = "
            f"{row.get('entries_per_s', 0):>10,.0f}/s  rss +{row.get('rss_growth_mib', 0):.1f} MiB"
        )
    else:
        text = (
            f"{row.get('records_per_s', 0):>10,.0f} rec/s  cpu {row.get('cpu_s_per_m', 0):6.2f} "
            f"s/M  rss {row.get('rss_mib', 0):6.1f} MiB  out {row.get('outputs', 0):,.0f}"
        )
    status = "" if res.ok else f"  NOT OK: {res.error.splitlines()[0] if res.error else ''}"
    print(
        f"[bench] {res.workload:<8} {res.case:<9} {res.impl:<16} rep {res.rep}: {text}{status}",
        flush=True,
    )


def fill_keys(ctx: Context, keys: int) -> Input:
    """An input of ``keys`` events with distinct keys, for a large key-value changelog."""
    assert ctx.kafka is not None
    parts = ctx.settings.partitions
    topic = ctx.name("distinct-keys")
    print(f"[bench] filling {topic} with {keys:,} events of distinct keys ...", flush=True)
    started = time.monotonic()
    ctx.kafka.create([topic], parts)
    producer = Producer(
        {
            "bootstrap.servers": ctx.kafka.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.size": 1_000_000,
        }
    )
    for i in range(keys):
        key = b"k%08d" % i
        value = b'{"amount":1,"timestamp":%d}' % (data.BASE + i)
        while True:
            try:
                producer.produce(topic, value, key, partition=data.partition_of(key, parts))
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise SystemExit(f"pre-filling {topic} failed")
    print(f"[bench]   filled in {time.monotonic() - started:.1f} s", flush=True)
    return Input(topic, keys, {}, 0, keys)
