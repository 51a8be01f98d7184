"""Run the benchmarks: strom, the hand-written loop and the peers, side by side, in one run.

    python -m bench.run                      # everything; writes docs/benchmarks.md
    python -m bench.run --quick --only raw   # smoke run of the hand-written references
    python -m bench.run --workloads stateless --only raw,strom --repeat 5

The Kafka broker is the one given by ``--bootstrap`` or ``$STROM_TEST_KAFKA``, else the one
``make kafka-up`` started, else one started (and stopped) for this run. Peers' virtualenvs are
created under ``bench/.venvs/`` on first use. Raw results go to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench import machine, registry, report
from bench.context import RESULTS, Context, RepResult
from bench.drivers import DRIVERS
from bench.kafka import BrokerHandle, Kafka, ensure_broker
from bench.settings import Settings
from bench.spec import Workload

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="small sizes, 1 repetition, no docs")
    p.add_argument("--records", type=int, help="input records per pipeline run")
    p.add_argument("--repeat", type=int, help="repetitions per implementation")
    p.add_argument("--partitions", type=int, help="partitions of input and output topics")
    p.add_argument("--commit-interval", type=float, help="seconds between commits")
    p.add_argument("--linger-ms", type=int, help="producer linger.ms for every implementation")
    p.add_argument("--poll-batch", type=int, help="records per poll where configurable")
    p.add_argument("--latency-rate", type=int, help="offered load of the latency workload (ev/s)")
    p.add_argument("--latency-seconds", type=float, help="measured seconds of the latency load")
    p.add_argument("--log-records", type=int, help="records per size in the log workload")
    p.add_argument(
        "--only", help="comma-separated implementation families or names (raw,strom,quix,...)"
    )
    p.add_argument("--workloads", help="comma-separated workload names (default: all)")
    p.add_argument("--bootstrap", help="host:port of a running Kafka broker to use")
    p.add_argument(
        "--docs",
        type=Path,
        help=f"report file to update (default {DOCS.relative_to(DOCS.parent.parent)}; a run "
        "narrowed with --only/--workloads updates it only when --docs is given)",
    )
    p.add_argument("--no-docs", action="store_true", help="do not update the report file")
    p.add_argument("--list", action="store_true", help="list workloads and implementations")
    p.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="re-render the report from a saved run (bench/results/<run id>.json); runs nothing",
    )
    return p


def render_saved(path: Path, docs: Path | None) -> None:
    """Print (and write to ``docs``) the report of a saved run."""
    saved = json.loads(path.read_text())
    results = [RepResult(**r) for r in saved["results"]]
    names = {r.workload for r in results} | set(saved.get("notes", {}))
    workloads = [w for w in registry.workloads() if w.name in names]
    generated = report.render(saved, workloads, results, saved.get("notes", {}))
    print(generated)
    if docs is not None and not saved.get("quick"):
        report.write_docs(docs, generated)
        print(f"[bench] wrote {docs}", flush=True)


def settings_from(args: argparse.Namespace) -> Settings:
    """The run's settings: defaults (or --quick's), then the options given."""
    s = Settings.quick() if args.quick else Settings()
    overrides = {
        "records": args.records,
        "repeat": args.repeat,
        "partitions": args.partitions,
        "commit_interval_s": args.commit_interval,
        "linger_ms": args.linger_ms,
        "poll_batch": args.poll_batch,
        "latency_rate": args.latency_rate,
        "latency_seconds": args.latency_seconds,
        "log_records": args.log_records,
    }
    for name, value in overrides.items():
        if value is not None:
            setattr(s, name, value)
    return s


def _needs_kafka(workloads: list[Workload], ctx_only: set[str] | None) -> bool:
    for w in workloads:
        for impl in w.impls:
            selected = ctx_only is None or impl.family in ctx_only or impl.name in ctx_only
            if selected and (impl.backend or w.backend) == "kafka":
                return True
    return False


def _list(workloads: list[Workload]) -> None:
    for w in workloads:
        print(f"{w.name}  ({w.kind}, {w.backend}): {w.title}")
        for impl in w.impls:
            print(f"    {impl.name:<12} family={impl.family:<10} env={impl.env:<8} {impl.label}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    all_workloads = registry.workloads()
    if args.list:
        _list(all_workloads)
        return 0
    if args.render:
        render_saved(args.render, None if args.no_docs else args.docs or DOCS)
        return 0
    chosen = set(args.workloads.split(",")) if args.workloads else None
    unknown = (chosen or set()) - {w.name for w in all_workloads}
    if unknown:
        raise SystemExit(f"unknown workloads {sorted(unknown)}; see --list")
    workloads = [w for w in all_workloads if chosen is None or w.name in chosen]
    only = set(args.only.split(",")) if args.only else None
    settings = settings_from(args)
    run_id = time.strftime("%Y%m%d-%H%M%S")

    broker: BrokerHandle | None = None
    kafka: Kafka | None = None
    if _needs_kafka(workloads, only):
        broker = ensure_broker(args.bootstrap)
        kafka = Kafka(broker.bootstrap)
        kafka.check()
    ctx = Context(settings=settings, kafka=kafka, run_id=run_id, only=only)
    meta: dict[str, Any] = {
        "run_id": run_id,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "quick": args.quick,
        "command": " ".join(["python -m bench.run", *map(shlex.quote, sys.argv[1:])])
        if argv is None
        else "python -m bench.run " + " ".join(map(shlex.quote, argv)),
        "machine": machine.machine(),
        "versions": machine.versions(),
        "broker": f"{broker.bootstrap} ({broker.origin})" if broker else "not used",
        "load_start": " ".join(f"{x:.2f}" for x in machine.load_average()),
        "settings": settings.as_dict(),
        "settings_text": settings.describe(),
    }
    print(f"[bench] run {run_id}: {', '.join(w.name for w in workloads)}", flush=True)
    interrupted = False
    try:
        for workload in workloads:
            print(f"[bench] == {workload.name}: {workload.title}", flush=True)
            DRIVERS[workload.kind](ctx, workload)
    except KeyboardInterrupt:
        interrupted = True
        print("[bench] interrupted: writing what was measured", flush=True)
    finally:
        if kafka is not None:
            leftovers = [
                t for t in kafka.admin.list_topics(timeout=10).topics if t.endswith(run_id)
            ]
            kafka.delete(leftovers)
        ctx.cleanup()
        if broker is not None:
            broker.stop()
    meta["load_end"] = " ".join(f"{x:.2f}" for x in machine.load_average())
    meta["peers"] = {
        name: {"versions": env.versions, "error": env.error} for name, env in ctx.peer_envs.items()
    }
    meta["interrupted"] = interrupted
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / f"{run_id}.json"
    raw.write_text(
        json.dumps(
            {**meta, "notes": ctx.notes, "results": [r.as_dict() for r in ctx.results]},
            indent=1,
        )
    )
    generated = report.render(meta, workloads, ctx.results, ctx.notes)
    print()
    print(generated)
    partial = bool(args.only or args.workloads) and args.docs is None
    if partial and not args.quick and not args.no_docs:
        print("[bench] a narrowed run does not update the report (pass --docs to write it)")
    elif not args.quick and not args.no_docs and not interrupted:
        docs = args.docs or DOCS
        report.write_docs(docs, generated)
        print(f"[bench] wrote {docs}", flush=True)
    print(f"[bench] raw results: {raw}", flush=True)
    # A failed implementation is reported in the results; the command fails only when the run
    # was cut short or measured nothing at all.
    return 1 if interrupted or not any(r.ok for r in ctx.results) else 0


if __name__ == "__main__":
    sys.exit(main())
