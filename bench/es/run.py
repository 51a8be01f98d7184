"""Event store benchmark: strom.es against the ``eventsourcing`` library, same PostgreSQL.

    python -m bench.es.run [--dsn DSN] [--repeat 3] [--commits 2000] [--aggregates 200]
                           [--no-docs]

Both sides run the same steps through their own public API (strom: ``Repository`` and
``EventStore``; eventsourcing: ``Application``, ``Aggregate`` and its recorder), each in a
fresh process, on a fresh PostgreSQL schema or SQLite file:

* ``append 1``: commits of one event (an aggregate's command, then save), round-robin over
  the aggregates; commits/s.
* ``append 10``: commits of ten events; commits/s (events/s = 10x).
* ``load``: rebuilding every aggregate from its events (about 40 each); loads/s.
* ``load + snapshot``: the same after a snapshot and two more events; loads/s.
* ``read_all``: every event of the store in pages of 1000 (raw, not decoded, on both sides);
  events/s.

eventsourcing runs from PyPI in its own venv (``bench/.venvs/eventsourcing``), with its
PostgreSQL recorder in its default mode (LOCK TABLE per commit) and with
``POSTGRES_ENABLE_DB_FUNCTIONS`` (one function call per commit, no table lock), and with its
SQLite recorder. The figures are medians of ``--repeat`` runs; the report section of
docs/benchmarks.md between the ``es-bench`` markers is replaced.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from bench.es.venv import ensure_eventsourcing

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOCS = REPO / "docs" / "benchmarks.md"
START, END = "<!-- es-bench:start -->", "<!-- es-bench:end -->"
METRICS = [
    ("append_1_commits_per_s", "append, 1-event commits (commits/s)"),
    ("append_10_commits_per_s", "append, 10-event commits (commits/s)"),
    ("load_no_snapshot_per_s", "aggregate load, no snapshot (loads/s)"),
    ("load_snapshot_per_s", "aggregate load, snapshot + 2 events (loads/s)"),
    ("read_all_events_per_s", "read_all (events/s)"),
]


def postgres_dsn(given: str | None) -> tuple[str, Path | None]:
    """A DSN: the one given, $STROM_TEST_POSTGRES, or a server started for this run."""
    dsn = given or os.environ.get("STROM_TEST_POSTGRES")
    if dsn:
        return dsn, None
    run_dir = Path(tempfile.mkdtemp(prefix="strom-es-bench-"))
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/services/postgres.py"), "up", "--dir", str(run_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return done.stdout.strip().splitlines()[-1], run_dir


def fresh_schema(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")


def run_once(python: str, script: str, cfg: dict[str, Any]) -> dict[str, float]:
    done = subprocess.run(
        [python, str(HERE / script), json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} {cfg['backend']} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--aggregates", type=int, default=200)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    dsn, started_dir = postgres_dsn(args.dsn)
    es_python, es_version = ensure_eventsourcing(
        REPO / "bench" / "results" / "eventsourcing-venv.log"
    )
    sides = [
        ("strom", sys.executable, "workload_strom.py", {}),
        ("eventsourcing", es_python, "workload_eventsourcing.py", {}),
        (
            "eventsourcing (db functions)",
            es_python,
            "workload_eventsourcing.py",
            {"db_functions": True},
        ),
    ]
    results: dict[tuple[str, str], dict[str, float]] = {}
    try:
        for backend in ("postgres", "sqlite"):
            runs: dict[str, list[dict[str, float]]] = {}
            # Repetitions interleave the sides, so drifting load on a shared machine hits all.
            for rep in range(args.repeat):
                for label, python, script, extra in sides:
                    if backend == "sqlite" and extra:
                        continue
                    cfg: dict[str, Any] = {
                        "backend": backend,
                        "aggregates": args.aggregates,
                        "commits": args.commits,
                        **extra,
                    }
                    if backend == "postgres":
                        cfg |= {"dsn": dsn, "schema": f"bench_es_{rep}"}
                        fresh_schema(dsn, cfg["schema"])
                        result = run_once(python, script, cfg)
                    else:
                        with tempfile.TemporaryDirectory(prefix="strom-es-bench-") as tmp:
                            cfg["path"] = str(Path(tmp) / "e.db")
                            result = run_once(python, script, cfg)
                    runs.setdefault(label, []).append(result)
                    print(
                        f"[bench.es] {backend} {label} #{rep + 1}: {json.dumps(result)}", flush=True
                    )
            for label, reps in runs.items():
                results[(backend, label)] = {
                    k: statistics.median(r[k] for r in reps) for k in reps[0]
                }
    finally:
        if started_dir is not None:
            subprocess.run(
                [
                    sys.executable,
                    str(REPO / "scripts/services/postgres.py"),
                    "down",
                    "--dir",
                    str(started_dir),
                ],
                check=False,
                timeout=60,
            )
            shutil.rmtree(started_dir, ignore_errors=True)
    section = report(results, args, es_version)
    print(section)
    if not args.no_docs:
        text = DOCS.read_text()
        if START in text and END in text:
            head, rest = text.split(START, 1)
            text = head + section + rest.split(END, 1)[1]
        else:
            text = text.rstrip() + "\n\n" + section + "\n"
        DOCS.write_text(text)


def report(
    results: dict[tuple[str, str], dict[str, float]], args: argparse.Namespace, es_version: str
) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "python -m bench.es.run " + shlex.join(
        [f"--repeat={args.repeat}", f"--commits={args.commits}", f"--aggregates={args.aggregates}"]
    )
    lines = [
        START,
        f"## Event store (strom.es) against eventsourcing {es_version}: {when}",
        "",
        f"`{cmd}` (`make bench-es`), medians of {args.repeat} runs, each in a fresh "
        "process on a fresh schema / file; PostgreSQL 15 from `scripts/services/postgres.py` "
        f"on loopback; {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores shared with other work. Higher is better.",
        "",
    ]
    for backend in ("postgres", "sqlite"):
        labels = [label for (b, label) in results if b == backend]
        lines.append(f"### {'PostgreSQL' if backend == 'postgres' else 'SQLite (embedded)'}")
        lines.append("")
        lines.append("| measure | " + " | ".join(labels) + " | strom / best other |")
        lines.append("|---|" + "---:|" * (len(labels) + 1))
        for key, name in METRICS:
            values = [results[(backend, label)][key] for label in labels]
            best_other = max(values[1:]) if len(values) > 1 else 0
            ratio = f"{values[0] / best_other:.2f}x" if best_other else ""
            lines.append(f"| {name} | " + " | ".join(f"{v:,.0f}" for v in values) + f" | {ratio} |")
        lines.append("")
    lines += [
        "How to read it: both sides go through their public API with JSON events, optimistic "
        "concurrency and a gap-free global order, except that eventsourcing's db-functions "
        "mode inserts without the table lock its default mode takes to keep the notification "
        "order free of late commits (the problem described in "
        "[event-sourcing.md](event-sourcing.md#the-global-order-no-gaps-no-skips)). strom "
        "appends in one round trip (a PL/pgSQL function) and loads in one (snapshot and "
        "events pipelined); `read_all` returns raw events on both sides (strom: tuples built "
        "from psycopg's binary rows). The machine is shared: single runs vary by up to 2x, "
        "so only differences well beyond that are meaningful.",
        "",
        END,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
