"""``python -m tests.crash``: run crash cases from the command line.

    python -m tests.crash run --log local --pipeline stateless --kills 10
    python -m tests.crash run --log kafka --kills 10 --broker-restart     # a broker of its own
    python -m tests.crash run --log kafka --framework quix --kills 10
    python -m tests.crash long                  # >= 200 kills per case; docs/reliability.md

Kafka: ``--bootstrap HOST:PORT`` (or ``$STROM_TEST_KAFKA``) uses a running broker; otherwise,
and always for a broker restart, the run starts a broker of its own with
``scripts/kafka/broker.py`` (and stops it at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.crash import report
from tests.crash.harness import Case, Result, Run, say
from tests.crash.processes import FRAMEWORKS, REPO
from tests.kafka_broker import own_broker as own_kafka

RESULTS = REPO / "tests" / "crash" / "results"
DOCS = REPO / "docs" / "reliability.md"
PEER_GRACE_MS = 60_000
"""The peers drop late records (no late topic): a grace far beyond the partitions' skew."""


@contextmanager
def own_broker(root: Path) -> Iterator[tuple[str, Path]]:
    """A Kafka broker of this run alone: (bootstrap, run dir)."""
    run = root / "broker"
    with own_kafka(run) as bootstrap:
        yield bootstrap, run


def peer_python(framework: str, root: Path) -> str | None:
    """The interpreter of a peer's virtualenv (created on first use), None for strom."""
    if framework == "strom":
        return None
    from bench import peers

    env = peers.ensure(framework, root / f"install-{framework}.log")
    if env.python is None:
        raise SystemExit(f"the {framework} virtualenv could not be created: {env.error}")
    return str(env.python)


def run_case(case: Case, root: Path, bootstrap: str | None, broker_dir: Path | None) -> Result:
    workdir = root / case.name
    if case.log == "kafka":
        if bootstrap is None:
            raise SystemExit("a Kafka case needs a broker")
        url = f"kafka://{bootstrap}"
    else:
        url = f"local://{workdir / 'log'}"
    python = peer_python(case.framework, root)
    return Run(case, url, workdir, python=python, broker_dir=broker_dir).execute()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tests.crash",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run", help="run one case")
    one.add_argument("--framework", choices=FRAMEWORKS, default="strom")
    one.add_argument("--log", choices=("kafka", "local"), default="local")
    one.add_argument("--pipeline", choices=("stateless", "windowed"), default="stateless")
    one.add_argument("--kills", type=int, default=10)
    one.add_argument("--rate", type=int, default=500)
    one.add_argument("--commit-interval", type=float, default=0.1)
    one.add_argument("--guarantee", default="exactly-once")
    one.add_argument("--zombies", type=int, default=0, help="zombie episodes")
    one.add_argument("--broker-restart", action="store_true")
    one.add_argument("--dynamic-membership", action="store_true")
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--grace-ms", type=int, help="the windows' grace (peers: 60000)")
    one.add_argument("--bootstrap", default=os.environ.get("STROM_TEST_KAFKA"))
    one.add_argument("--workdir", type=Path)
    many = sub.add_parser("long", help="every case, >= 200 kills each; writes the docs")
    many.add_argument("--kills", type=int, default=200)
    many.add_argument("--peer-kills", type=int, help="kills per peer case (default: --kills)")
    many.add_argument("--zombies", type=int, default=3, help="zombie episodes per zombie case")
    many.add_argument("--scenarios", default="kills,zombies", help="kills and/or zombies")
    many.add_argument("--frameworks", default="strom", help="comma-separated: strom,quix,faust")
    many.add_argument("--logs", default="kafka,local")
    many.add_argument("--pipelines", default="stateless,windowed")
    many.add_argument("--rate", type=int, default=500)
    many.add_argument("--seed", type=int, default=1)
    many.add_argument(
        "--settle-timeout", type=float, default=600.0, help="seconds the last instance gets"
    )
    many.add_argument("--docs", type=Path, default=DOCS)
    many.add_argument("--no-docs", action="store_true")
    many.add_argument("--workdir", type=Path)
    show = sub.add_parser("render", help="rewrite the docs from saved long-run results")
    show.add_argument("--docs", type=Path, default=DOCS)
    show.add_argument("--as-command", default="python -m tests.crash render", help="what to show")
    return p


def _latest_saved() -> dict[str, Path]:
    """The newest saved long-run result of every case."""
    latest: dict[str, Path] = {}
    for path in sorted(RESULTS.glob("long-*/*.json")):
        latest[path.stem] = path  # run directories sort by date
    return latest


def _write_docs(docs: Path, command: str) -> None:
    paths = sorted(_latest_saved().values(), key=_case_order)
    generated = report.render(report.load(paths), command, time.strftime("%Y-%m-%d %H:%M %Z"))
    report.write(docs, generated)
    print(generated)
    say(f"wrote {docs}")


def _case_order(path: Path) -> tuple[int, str]:
    framework = path.stem.split("-", 1)[0]
    return (FRAMEWORKS.index(framework) if framework in FRAMEWORKS else 9, path.stem)


def windowed_available() -> bool:
    """Whether strom's DSL has windows yet (the windowed pipeline needs them)."""
    import strom

    return hasattr(strom.Stream, "window")


def run_long(args: argparse.Namespace, root: Path) -> int:
    frameworks = args.frameworks.split(",")
    logs = args.logs.split(",")
    pipelines = args.pipelines.split(",")
    if "windowed" in pipelines and not windowed_available():
        say("strom has no Stream.window() yet: the windowed cases are not run")
        pipelines.remove("windowed")
    cases = [
        Case(
            framework=framework,
            log=log,
            pipeline=pipeline,
            kills=kills,
            zombies=0 if kills else args.zombies,
            broker_restart=log == "kafka" and kills > 0,
            rate=args.rate,
            seed=args.seed,
            static_membership=framework == "strom",
            grace_ms=None if framework == "strom" else PEER_GRACE_MS,
            settle_timeout=args.settle_timeout,
        )
        for framework in frameworks
        for log in logs
        if log == "kafka" or framework == "strom"  # the peers run on Kafka only
        for pipeline in pipelines
        if not (framework == "faust" and pipeline == "windowed")  # no final-window output
        # The kills (and the broker restart), then the zombies apart: each verdict says
        # which fault it is about.
        for kills in (args.kills if framework == "strom" else (args.peer_kills or args.kills), 0)
        if ("kills" if kills else "zombies") in args.scenarios.split(",")
    ]
    run_dir = RESULTS / f"long-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    failed = 0

    def one(case: Case, bootstrap: str | None, broker_dir: Path | None) -> None:
        nonlocal failed
        try:
            result = run_case(case, root, bootstrap, broker_dir)
        except Exception as exc:  # recorded: the report says the case did not complete
            say(f"{case.name} did not complete: {type(exc).__name__}: {exc}")
            failed += 1
            return
        (run_dir / f"{case.name}.json").write_text(json.dumps(result.as_dict(), indent=1))
        failed += not result.ok

    kafka_cases = [c for c in cases if c.log == "kafka"]
    if kafka_cases:
        with own_broker(root) as (bootstrap, broker_dir):
            for case in kafka_cases:
                one(case, bootstrap, broker_dir)
    for case in cases:
        if case.log != "kafka":
            one(case, None, None)
    if not args.no_docs:
        command = "make crash-long" + (
            f" CRASH_ARGS='{' '.join(sys.argv[2:])}'" if len(sys.argv) > 2 else ""
        )
        _write_docs(args.docs, command)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = getattr(args, "workdir", None) or Path(tempfile.mkdtemp(prefix="strom-crash-"))
    root.mkdir(parents=True, exist_ok=True)
    if args.command != "render":
        say(f"work directory {root}")
    if args.command == "run":
        case = Case(
            framework=args.framework,
            log=args.log,
            pipeline=args.pipeline,
            kills=args.kills,
            zombies=args.zombies,
            broker_restart=args.broker_restart,
            rate=args.rate,
            commit_interval=args.commit_interval,
            guarantee=args.guarantee,
            static_membership=not args.dynamic_membership and args.framework == "strom",
            seed=args.seed,
            grace_ms=args.grace_ms or (None if args.framework == "strom" else PEER_GRACE_MS),
        )
        if case.log == "kafka" and (args.broker_restart or not args.bootstrap):
            with own_broker(root) as (bootstrap, run_dir):
                result = run_case(case, root, bootstrap, run_dir)
        else:
            result = run_case(case, root, args.bootstrap, None)
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{case.name}.json"
        out.write_text(json.dumps(result.as_dict(), indent=1))
        print(result.summary())
        for check in result.checks:
            for example in check.examples:
                print(f"  {check.output}: {example}")
        for problem in result.unexpected_exits:
            print(f"  {problem}")
        return 0 if result.ok else 1
    if args.command == "long":
        return run_long(args, root)
    if args.command == "render":
        _write_docs(args.docs, args.as_command)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
