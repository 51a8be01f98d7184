"""Stateful benchmarks on Kafka (issue 11), see :mod:`bench.stateful`.

    python -m bench.stateful                          # 3 repetitions; writes docs/benchmarks.md
    python -m bench.stateful --quick                  # smoke run: 20,000 events, no docs
    python -m bench.stateful --only raw,strom-rocksdb --repeat 1 --no-docs
    python -m bench.stateful --profile strom-rocksdb  # py-spy profile of one implementation
    python -m bench.stateful --render bench/results/stateful-<id>.json

The broker: ``--bootstrap``, else ``$STROM_TEST_KAFKA``, else the one ``make kafka-up``
started, else one started for the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import machine, peers
from bench.context import RESULTS, Context, RepResult
from bench.kafka import Kafka, ensure_broker
from bench.settings import Settings
from bench.stateful import driver, report

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "benchmarks.md"


def render_saved(paths: list[Path]) -> str:
    """The report of saved runs, one section per run; a workload that a later run measured
    again is left out of the earlier one (e.g. a run cut short, then completed apart)."""
    runs = [json.loads(p.read_text()) for p in paths]
    families = {"windowed": {"windowed", "restore", "restore-source"}}
    texts = []
    for i, saved in enumerate(runs):
        later = {r["workload"] for run in runs[i + 1 :] for r in run["results"]}
        later |= {w for k in later for w in families.get(k, ())}
        results = [RepResult(**r) for r in saved["results"] if r["workload"] not in later]
        if results:
            texts.append(report.render(saved, results))
    return "\n".join(texts)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.stateful",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="20,000 events, 1 repetition, no docs")
    p.add_argument("--records", type=int, help="input events (default 300,000)")
    p.add_argument("--repeat", type=int, help="repetitions (default 3)")
    p.add_argument("--only", help="comma-separated implementation names or families")
    p.add_argument(
        "--workloads",
        default="windowed,enrich,join",
        help="comma-separated: windowed (issue 11), enrich and join (issue 12's stream-table "
        "and windowed stream-stream joins)",
    )
    p.add_argument("--join-records", type=int, help="records of the windowed join (300,000)")
    p.add_argument("--orders", type=int, help="orders of the enrichment (default 1,000,000)")
    p.add_argument("--users", type=int, help="rows of the enrichment's table (default 100,000)")
    p.add_argument("--no-restore", action="store_true", help="skip the restore phases")
    p.add_argument(
        "--restore-keys",
        type=int,
        help="distinct keys of the large key-value restore case (default 500,000; 0: skip)",
    )
    p.add_argument("--bootstrap", help="host:port of a running Kafka broker")
    p.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    p.add_argument("--profile", metavar="IMPL", help="profile one implementation with py-spy")
    p.add_argument(
        "--profile-restore",
        action="store_true",
        help="profile the large key-value restores with py-spy (one run, no docs)",
    )
    p.add_argument("--native", action="store_true", help="with --profile: C frames too")
    p.add_argument("--idle", action="store_true", help="with --profile: waiting samples too")
    p.add_argument(
        "--render",
        type=Path,
        nargs="+",
        metavar="RESULTS_JSON",
        help="re-render saved runs (a workload re-run in a later file is taken from that one)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.render:
        text = render_saved(args.render)
        print(text)
        quick = any(json.loads(p.read_text()).get("quick") for p in args.render)
        if not args.no_docs and not quick:
            report.write_docs(DOCS, text)
        return 0
    settings = Settings.quick() if args.quick else Settings()
    if args.records:
        settings.records = args.records
    if args.repeat:
        settings.repeat = args.repeat
    if args.profile:
        settings.repeat = 1
    only = set(args.only.split(",")) if args.only else None
    restore_keys = args.restore_keys
    if restore_keys is None:
        restore_keys = 20_000 if args.quick else 500_000
    if args.profile:
        only = {args.profile}
    run_id = "stateful-" + time.strftime("%Y%m%d-%H%M%S")
    broker = ensure_broker(args.bootstrap)
    kafka = Kafka(broker.bootstrap)
    kafka.check()
    ctx = Context(settings=settings, kafka=kafka, run_id=run_id, only=only)
    chosen = set(args.workloads.split(","))
    known = {"windowed", "enrich", "join"}
    if chosen - known:
        raise SystemExit(f"unknown workloads {sorted(chosen - known)}")
    impls = [si for si in driver.IMPLS if ctx.selected(si.impl) and "windowed" in chosen]
    enrich = [si for si in driver.ENRICH_IMPLS if ctx.selected(si.impl) and "enrich" in chosen]
    joins = [si for si in driver.JOIN_IMPLS if ctx.selected(si.impl) and "join" in chosen]
    join_records = args.join_records or (20_000 if args.quick else 300_000)
    orders = args.orders or (20_000 if args.quick else 1_000_000)
    users = args.users or (5_000 if args.quick else 100_000)
    if not impls and not enrich and not joins:
        names = [s.impl.name for s in (*driver.IMPLS, *driver.ENRICH_IMPLS, *driver.JOIN_IMPLS)]
        raise SystemExit(f"--only {args.only!r} selects nothing of {names}")
    meta: dict[str, Any] = {
        "run_id": run_id,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "quick": args.quick,
        "command": "python -m bench.stateful "
        + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv)),
        "machine": machine.machine(),
        "versions": machine.versions(),
        "broker": f"{broker.bootstrap} ({broker.origin})",
        "load_start": " ".join(f"{x:.2f}" for x in machine.load_average()),
        "settings": settings.as_dict(),
        "restore_keys": restore_keys,
    }
    wrap = _profiler(ctx, args) if args.profile else None
    names = ", ".join(s.impl.name for s in (*impls, *enrich, *joins))
    print(f"[bench] run {run_id}: {names}", flush=True)
    interrupted = False
    try:
        if impls:
            _windowed(ctx, impls, meta, args, wrap, restore_keys)
        if enrich:
            _enrich(ctx, enrich, meta, orders, users, wrap)
        if joins:
            _join(ctx, joins, meta, join_records, wrap)
    except KeyboardInterrupt:
        interrupted = True
        print("[bench] interrupted: writing what was measured", flush=True)
    except Exception:
        # What was measured stays worth keeping: write it, then fail.
        interrupted = True
        traceback.print_exc()
        print("[bench] failed: writing what was measured", flush=True)
    finally:
        leftovers = [t for t in kafka.admin.list_topics(timeout=10).topics if run_id in t]
        kafka.delete(leftovers)
        ctx.cleanup()
        broker.stop()
    meta["load_end"] = " ".join(f"{x:.2f}" for x in machine.load_average())
    meta["peers"] = {
        n: {"versions": e.versions, "error": e.error} for n, e in ctx.peer_envs.items()
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / f"{run_id}.json"
    saved = {**meta, "results": [r.as_dict() for r in ctx.results]}
    raw.write_text(json.dumps(saved, indent=1))
    if args.profile:
        _summarize_profile(ctx, args)
        return 0
    text = report.render(saved, ctx.results)
    print()
    print(text)
    if args.quick or args.no_docs or interrupted or args.only:
        print("[bench] docs not updated (quick, --no-docs, --only or interrupted)")
    else:
        report.write_docs(DOCS, text)
        print(f"[bench] wrote {DOCS}", flush=True)
    print(f"[bench] raw results: {raw}", flush=True)
    return 1 if interrupted or not any(r.ok for r in ctx.results) else 0


def _windowed(
    ctx: Context,
    impls: list[driver.StatefulImpl],
    meta: dict[str, Any],
    args: argparse.Namespace,
    wrap: list[str] | None,
    restore_keys: int,
) -> None:
    settings = ctx.settings
    inp = driver.fill(ctx)
    meta["input"] = {
        "records": inp.records,
        "windows": len(inp.reference),
        "logins": inp.logins,
        "keys": inp.keys,
    }
    broken: set[str] = set()
    for rep in range(1, settings.repeat + 1):
        for si in impls:
            if si.impl.name in broken:
                continue
            res, finished = driver.run_one(ctx, si, rep, inp, wrap)
            ctx.results.append(res)
            driver.print_result(res)
            if res.info.get("fatal"):
                broken.add(si.impl.name)
            if finished is None:
                continue
            if si.restore and res.ok and not args.no_restore and not args.profile:
                for backend in ("memory", "rocksdb"):
                    restored = driver.restore_one(ctx, finished, backend, rep)
                    ctx.results.append(restored)
                    driver.print_result(restored)
            driver.drop(ctx, finished)
    if not args.no_restore and not args.profile and restore_keys:
        _large_restore(ctx, restore_keys, args.profile_restore)


def _enrich(
    ctx: Context,
    impls: list[driver.StatefulImpl],
    meta: dict[str, Any],
    orders: int,
    users: int,
    wrap: list[str] | None,
) -> None:
    inp = driver.fill_enrich(ctx, orders, users)
    meta["enrich_input"] = {"orders": orders, "users": users}
    broken: set[str] = set()
    for rep in range(1, ctx.settings.repeat + 1):
        for si in impls:
            if si.impl.name in broken:
                continue
            res, finished = driver.run_one(ctx, si, rep, inp, wrap, workload="enrich")
            ctx.results.append(res)
            driver.print_result(res)
            if res.info.get("fatal"):
                broken.add(si.impl.name)
            if finished is not None:
                driver.drop(ctx, finished)


def _join(
    ctx: Context,
    impls: list[driver.StatefulImpl],
    meta: dict[str, Any],
    total: int,
    wrap: list[str] | None,
) -> None:
    inp = driver.fill_join(ctx, total)
    meta["join_input"] = {"records": inp.records, "pairs": len(inp.pairs)}
    broken: set[str] = set()
    for rep in range(1, ctx.settings.repeat + 1):
        for si in impls:
            if si.impl.name in broken:
                continue
            res, finished = driver.run_one(ctx, si, rep, inp, wrap, workload="join")
            ctx.results.append(res)
            driver.print_result(res)
            if res.info.get("fatal"):
                broken.add(si.impl.name)
            if finished is not None:
                driver.drop(ctx, finished)


def _large_restore(ctx: Context, keys: int, profile: bool = False) -> None:
    """A key-value changelog of ``keys`` distinct keys (written by strom's count per key with
    RocksDB), restored into fresh processes with each backend, ``repeat`` times, interleaved."""
    source = next(si for si in driver.IMPLS if si.impl.name == "strom-kv-rocksdb")
    inp = driver.fill_keys(ctx, keys)
    res, finished = driver.run_one(ctx, source, 0, inp)
    res.workload, res.case = "restore-source", "key-value-large"
    ctx.results.append(res)
    driver.print_result(res)
    if finished is None or not res.ok:
        return
    finished = dataclasses.replace(
        finished, impl=dataclasses.replace(source, restore="key-value-large")
    )
    for rep in range(1, ctx.settings.repeat + 1):
        for backend in ("memory", "rocksdb"):
            wrap = None
            if profile:
                collapsed = RESULTS / f"{ctx.run_id}-restore-{backend}.collapsed"
                wrap = _spy(ctx, collapsed, native=False, idle=False)
            restored = driver.restore_one(ctx, finished, backend, rep, wrap)
            ctx.results.append(restored)
            driver.print_result(restored)
            if profile:
                from bench.profile import summarize

                print(f"== restore into {backend}\n" + summarize(collapsed, top=15))
    driver.drop(ctx, finished)


def _profiler(ctx: Context, args: argparse.Namespace) -> list[str]:
    return _spy(ctx, RESULTS / f"{ctx.run_id}.collapsed", args.native, args.idle)


def _spy(ctx: Context, raw: Path, native: bool, idle: bool) -> list[str]:
    tools = peers.ensure("tools", ctx.run_dir / "install-tools.log")
    if tools.python is None:
        raise SystemExit(f"py-spy did not install: {tools.error}")
    wrap = [
        str(tools.python.parent / "py-spy"),
        "record",
        "--rate",
        "250",
        "--format",
        "raw",
        "--full-filenames",
        "--output",
        str(raw),
    ]
    wrap += ["--native"] if native else []
    wrap += ["--idle"] if idle else []
    return [*wrap, "--"]


def _summarize_profile(ctx: Context, args: argparse.Namespace) -> None:
    from bench.profile import summarize

    raw = RESULTS / f"{ctx.run_id}.collapsed"
    figures = "; ".join(
        f"{r.impl}: {r.rows.get('', {}).get('records_per_s', 0):,.0f} records/s, "
        f"{r.rows.get('', {}).get('cpu_s_per_m', 0):.2f} CPU s / M records"
        + ("" if r.ok else f" (NOT OK: {r.error})")
        for r in ctx.results
    )
    flags = (" --native" if args.native else "") + (" --idle" if args.idle else "")
    head = (
        f"profile of {args.profile}, py-spy 250 Hz"
        f"{flags}\nunder the profiler: {figures}\n\n"
    )
    text = head + (summarize(raw) if raw.exists() else "py-spy wrote no samples\n")
    (RESULTS / f"{ctx.run_id}.txt").write_text(text)
    print(text)
    print(f"[bench] collapsed stacks: {raw}")


if __name__ == "__main__":
    sys.exit(main())
