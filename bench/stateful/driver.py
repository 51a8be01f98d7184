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


CHECKS_READ = ("windows", "logins", "empty")


@dataclass
class Input:
    """The run's input topic and what a correct run produces from it."""

    topic: str
    records: int
    reference: data.Windows
    logins: int
    keys: int
    config: dict[str, Any] = field(default_factory=dict)
    """Extra configuration of every script (e.g. the table topic)."""
    tiers: dict[bytes, str] = field(default_factory=dict)
    """Enrichment: each user's tier."""
    pairs: set[tuple[int, int]] = field(default_factory=set)
    """Windowed join: every (impression id, click id) to emit."""
    topics: tuple[str, ...] = ()
    """Every input topic (default: ``topic``), for the committed-offsets check."""


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
    ctx: Context,
    si: StatefulImpl,
    rep: int,
    inp: Input,
    wrap: list[str] | None = None,
    workload: str = "windowed",
) -> tuple[RepResult, Finished | None]:
    """One repetition of one implementation; the output topic and group stay (the caller
    drops them with :func:`drop`)."""
    assert ctx.kafka is not None
    impl = si.impl
    res = RepResult(workload, "", impl.name, rep, ok=False)
    python, why = ctx.python(impl)
    if python is None:
        res.error, res.info["fatal"] = f"{impl.env} venv unavailable: {why}", True
        return res, None
    out = ctx.name(workload, impl.name, rep, "out")
    group = ctx.name(workload, impl.name, rep)
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
        **inp.config,
    }
    if config.get("mode") == "enrich":
        # Load the table first (same application, an empty order topic), outside the window.
        load = {**config, "mode": "enrich-load", "input_topic": inp.config["empty_topic"]}
        load["records"] = inp.config["table_rows"]
        loader = Child(python, impl.module, load, ctx.logs, f"{workload}-{impl.name}-{rep}-load")
        loaded = loader.wait(ctx.settings.timeout_s)
        if loaded.result is None:
            res.error = (
                f"loading the table failed (exit {loaded.returncode}):\n{loaded.error_tail()}"
            )
            return res, Finished(si, config, out, group)
        res.info["table_load_s"] = loaded.result.get("elapsed_s")
    name = f"{workload}-{impl.name}-{rep}"
    child = Child(python, impl.module, config, ctx.logs, name, wrap=wrap)
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
        # The child's own peak (see bench.stateful.mem); wait4's would include the runner's.
        "rss_mib": float(figures.get("peak_rss_mib") or done.max_rss_mib),
        "consumed": consumed,
    }
    problems = []
    if consumed != inp.records:
        problems.append(f"consumed {consumed} of {inp.records}")
    parts = ctx.settings.partitions
    if si.check == "enriched":
        check = verify.check_enriched(ctx.kafka.bootstrap, out, parts, inp.tiers)
        row["outputs"] = check.outputs
        res.info["check"] = check.describe()
        if check.wrong or check.outputs != inp.records:
            problems.append(f"output: {check.describe()}, expected {inp.records} records")
    elif si.check == "pairs":
        check = verify.check_pairs(ctx.kafka.bootstrap, out, parts, inp.pairs)
        row["outputs"] = check.outputs
        res.info["check"] = check.describe()
        res.info["duplicates"] = check.duplicates
        if not check.ok:
            problems.append(f"output differs from the reference: {check.describe()}")
    elif si.check in ("mapped", "count"):
        row["outputs"] = verify.scan(ctx.kafka.bootstrap, out, parts, lambda _m: None)
        if row["outputs"] != inp.records:
            problems.append(f"output has {row['outputs']} records, expected {inp.records}")
    msgs = verify.read_all(ctx.kafka.bootstrap, out, parts) if si.check in CHECKS_READ else []
    if si.check in CHECKS_READ:
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
    for topic in inp.topics or (inp.topic,):
        ends = ctx.kafka.end_offsets(topic)
        committed = ctx.kafka.committed(group, topic)
        behind = {p: (committed.get(p), e) for p, e in ends.items() if committed.get(p) != e}
        if behind:
            problems.append(f"{topic}: committed != end offset: {behind}")
    res.rows[""] = row
    res.info["child"] = {k: v for k, v in figures.items() if not isinstance(v, float)}
    res.ok = not problems
    res.error = "; ".join(problems)
    return res, finished


def restore_one(
    ctx: Context, source: Finished, backend: str, rep: int, wrap: list[str] | None = None
) -> RepResult:
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
        wrap=wrap,
    )
    done = child.wait(300.0)
    figures = done.result
    if figures is None or "error" in figures:
        why = figures["error"] if figures else f"exit {done.returncode}: {done.error_tail()}"
        res.error = f"restore failed: {why}"
        return res
    # The rate counts the changelog's records (what the tasks announced); the runtime may
    # apply some twice (its restore consumer re-reads after reassigning), reported apart.
    entries = int(figures["announced"])
    applied = int(figures["entries"])
    window = float(figures["window_s"])
    res.rows[""] = {
        "entries": entries,
        "applied": applied,
        "window_s": window,
        "entries_per_s": entries / window,
        "cpu_s_per_m": float(figures["cpu_s"]) / max(entries, 1) * 1e6,
        "rss_growth_mib": float(figures["rss_growth_bytes"]) / 2**20,
        "rss_mib": float(figures.get("peak_rss_mib") or done.max_rss_mib),
    }
    res.info["task_s_max"] = figures.get("task_s_max")
    res.ok = entries > 0 and applied >= entries
    if not res.ok:
        res.error = f"applied {applied} of {entries} changelog records"
    elif applied > entries:
        res.info["reapplied"] = applied - entries
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


ENRICH_IMPLS: tuple[StatefulImpl, ...] = (
    StatefulImpl(
        _impl(
            "raw-enrich",
            "hand-written confluent-kafka loop, table in a dict",
            "join_raw",
            "raw",
            note="the table is read into a dict before consuming; no store, no changelog",
        ),
        "enriched",
    ),
    StatefulImpl(
        _impl(
            "strom-enrich-rocksdb",
            "strom, app.table + stream.join (RocksDB)",
            "strom_app",
            "strom",
            config={"mode": "enrich", "backend": "rocksdb"},
        ),
        "enriched",
    ),
    StatefulImpl(
        _impl(
            "strom-enrich-memory",
            "strom, app.table + stream.join (memory)",
            "strom_app",
            "strom",
            config={"mode": "enrich", "backend": "memory"},
        ),
        "enriched",
    ),
    StatefulImpl(
        _impl(
            "strom-enrich-map",
            "strom, the same output by a map without the join (stateless)",
            "strom_app",
            "strom",
            config={"mode": "enrich-map", "backend": "memory"},
        ),
        "mapped",
    ),
)


def fill_enrich(ctx: Context, n_orders: int, n_users: int) -> Input:
    """The users table topic, an empty order topic (for loading the table) and the orders."""
    from bench.stateful import join_data

    assert ctx.kafka is not None
    parts = ctx.settings.partitions
    table, empty, orders = (ctx.name(n) for n in ("users", "no-orders", "orders"))
    print(
        f"[bench] filling {table} ({n_users:,} rows) and {orders} ({n_orders:,} orders) ...",
        flush=True,
    )
    started = time.monotonic()
    ctx.kafka.create([table, empty, orders], parts)
    producer = Producer(
        {
            "bootstrap.servers": ctx.kafka.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.size": 1_000_000,
        }
    )

    def send(topic: str, p: int, key: bytes, value: bytes, ts: int | None = None) -> None:
        while True:
            try:
                if ts is None:
                    producer.produce(topic, value, key, partition=p)
                else:
                    producer.produce(topic, value, key, partition=p, timestamp=ts)
                return
            except BufferError:
                producer.poll(0.05)

    # Kafka timestamps stay the produce time: a broker deletes records whose timestamps are
    # older than the topic's retention (7 days by default), even during the run.
    for i, (p, key, value) in enumerate(join_data.users(n_users, parts)):
        send(table, p, key, value)
        if i % 10_000 == 0:
            producer.poll(0)
    for i, (p, key, value, _ts) in enumerate(join_data.orders(n_orders, n_users, parts)):
        send(orders, p, key, value)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(300):
        raise SystemExit("pre-filling the enrichment topics failed")
    tiers = join_data.tier_of(n_users)
    print(f"[bench]   filled in {time.monotonic() - started:.1f} s", flush=True)
    config = {"table_topic": table, "empty_topic": empty, "table_rows": n_users}
    return Input(orders, n_orders, {}, 0, n_users, config=config, tiers=tiers)


JOIN_IMPLS: tuple[StatefulImpl, ...] = (
    StatefulImpl(
        _impl(
            "raw-join",
            "hand-written confluent-kafka loop, both sides in dicts",
            "join_window_raw",
            "raw",
            note="buffers only in the process: a crash loses them",
        ),
        "pairs",
    ),
    StatefulImpl(
        _impl(
            "strom-join-rocksdb",
            "strom, stream.join(window=within(10 s)) (RocksDB)",
            "strom_app",
            "strom",
            config={"mode": "window-join", "backend": "rocksdb"},
        ),
        "pairs",
    ),
    StatefulImpl(
        _impl(
            "strom-join-memory",
            "strom, stream.join(window=within(10 s)) (memory)",
            "strom_app",
            "strom",
            config={"mode": "window-join", "backend": "memory"},
        ),
        "pairs",
    ),
    StatefulImpl(
        _impl("quix-join", "Quix Streams, join_interval(±10 s)", "quix_join", "quix", env="quix"),
        "pairs",
    ),
    StatefulImpl(
        _impl(
            "strom-join-map",
            "strom, both topics mapped to the output, no join (stateless)",
            "strom_app",
            "strom",
            config={"mode": "window-join-map", "backend": "memory"},
        ),
        "count",
    ),
)


def fill_join(ctx: Context, total: int) -> Input:
    """The impression and click topics (Kafka timestamps = event times) and the reference."""
    from bench.stateful import join_data

    assert ctx.kafka is not None
    parts = ctx.settings.partitions
    imp_topic, click_topic = ctx.name("impressions"), ctx.name("clicks")
    print(f"[bench] filling {imp_topic} and {click_topic} (~{total:,} records) ...", flush=True)
    started = time.monotonic()
    # Event times = Kafka timestamps, in the last hour (older ones would meet retention).
    base = (int(time.time()) - 3600) * 1000
    imps, clicks = join_data.ad_events(total, parts, base)
    ctx.kafka.create([imp_topic, click_topic], parts)
    producer = Producer(
        {
            "bootstrap.servers": ctx.kafka.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.size": 1_000_000,
        }
    )
    for topic, events in ((imp_topic, imps), (click_topic, clicks)):
        for i, (_side, p, key, value, ts) in enumerate(events):
            while True:
                try:
                    producer.produce(topic, value, key, partition=p, timestamp=ts)
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 10_000 == 0:
                producer.poll(0)
    if producer.flush(300):
        raise SystemExit("pre-filling the join topics failed")
    pairs = join_data.join_reference(imps, clicks)
    n = len(imps) + len(clicks)
    print(
        f"[bench]   filled in {time.monotonic() - started:.1f} s: {len(imps):,} impressions, "
        f"{len(clicks):,} clicks, {len(pairs):,} pairs to emit",
        flush=True,
    )
    return Input(
        imp_topic,
        n,
        {},
        0,
        join_data.AD_KEYS,
        config={"click_topic": click_topic},
        pairs=pairs,
        topics=(imp_topic, click_topic),
    )
