"""Driver of ``pipeline`` workloads: drain a pre-filled input topic, measure throughput.

Per run: the input is filled once (shared by every implementation and repetition). Per
repetition and implementation: a fresh output topic and consumer group, a fresh process; then
the runner checks the output count against the expected one and the group's committed offsets
against the input's end offsets (at-least-once left nothing uncommitted and lost nothing).
Repetitions are interleaved (rep 1 of every implementation, then rep 2...) so that a change
in the machine's load touches every implementation alike.
"""

from __future__ import annotations

import time
from typing import Any

from bench.context import Context, RepResult
from bench.drivers.sides import KafkaSide, LocalSide, Side
from bench.proc import Child
from bench.spec import Impl, Workload


def side_for(ctx: Context, workload: Workload) -> Side | str:
    """The run's backend for ``workload`` (created once), or why there is none."""
    if workload.backend == "kafka":
        if ctx.kafka is None:
            return "no Kafka broker in this run"
        key = ("side", "kafka")
        return ctx.cached(key) or ctx.store(key, KafkaSide(ctx, ctx.kafka))
    key = ("side", "local")
    side = ctx.cached(key)
    if side is not None:
        return side  # type: ignore[no-any-return]
    try:
        return ctx.store(key, LocalSide(ctx))  # type: ignore[no-any-return]
    except Exception as exc:
        return f"the embedded log is not available: {type(exc).__name__}: {exc}"


def prepared_input(ctx: Context, workload: Workload, side: Side) -> tuple[str, list[str]]:
    """(topic, actions) of the run's input on ``side``: filled on first use."""
    records = ctx.settings.records
    key = ("input", workload.backend, records)
    cached = ctx.cached(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    topic = ctx.name("events", workload.backend)
    print(f"[bench] filling {topic} with {records:,} events ...", flush=True)
    started = time.monotonic()
    acts = side.fill(topic, records)
    print(f"[bench]   filled in {time.monotonic() - started:.1f} s", flush=True)
    return ctx.store(key, (topic, acts))  # type: ignore[no-any-return]


def run(ctx: Context, workload: Workload) -> None:
    """Run every selected implementation of ``workload``, ``repeat`` times."""
    impls = [impl for impl in workload.impls if ctx.selected(impl)]
    if not impls:
        return
    side = side_for(ctx, workload)
    if isinstance(side, str):
        ctx.note(workload, f"not run: {side}")
        return
    topic, acts = prepared_input(ctx, workload, side)
    expected = workload.expected_outputs(acts) if workload.expected_outputs else None
    broken: dict[str, str] = {}
    for case in workload.cases:
        for rep in range(1, ctx.settings.repeat + 1):
            for impl in impls:
                if impl.name in broken:
                    continue
                result = run_one(ctx, workload, impl, dict(case), rep, side, topic, expected)
                ctx.results.append(result)
                _print(result)
                if not result.ok and result.info.get("fatal"):
                    broken[impl.name] = result.error
                    ctx.note(workload, f"{impl.label}: not measured: {result.error}")


def run_one(
    ctx: Context,
    workload: Workload,
    impl: Impl,
    case: dict[str, Any],
    rep: int,
    side: Side,
    topic: str,
    expected: int | None,
    wrap: list[str] | None = None,
) -> RepResult:
    """One repetition of one implementation (``wrap``: a command prefix such as a profiler)."""
    case_name = str(case.get("case", ""))
    res = RepResult(workload.name, case_name, impl.name, rep, ok=False)
    python, why = ctx.python(impl)
    if python is None:
        res.error, res.info["fatal"] = f"{impl.env} venv unavailable: {why}", True
        return res
    out = ctx.name(workload.name, impl.name, case_name, rep, "out")
    group = ctx.name(workload.name, impl.name, case_name, rep)
    side.create(out)
    config = ctx.child_config(workload, impl, case)
    config.update(side.child())
    config.update(
        input_topic=topic,
        output_topic=out,
        group=group,
        records=ctx.settings.records,
        state_dir=str(ctx.tmp(f"{impl.name}-state")),
    )
    child = Child(
        python, impl.module, config, ctx.logs, f"{workload.name}-{impl.name}-{rep}", wrap=wrap
    )
    done = child.wait(ctx.settings.timeout_s)
    try:
        res.info.update(returncode=done.returncode, timed_out=done.timed_out)
        if done.result is None:
            res.error = f"exit {done.returncode}, no result line. stderr:\n{done.error_tail()}"
            res.info["fatal"] = done.returncode != 0 and not done.timed_out
            return res
        figures = done.result
        consumed = int(figures["consumed"])
        outputs = side.count(out)
        row = {
            "records_per_s": float(figures["records_per_s"]),
            "elapsed_s": float(figures["elapsed_s"]),
            "process_s": float(figures.get("process_s", figures["elapsed_s"])),
            "cpu_s": float(figures["cpu_s"]),
            "cpu_s_per_m": float(figures["cpu_s"]) / max(consumed, 1) * 1e6,
            "cpu_total_s": done.cpu_total_s,
            "wall_s": done.wall_s,
            "rss_mib": done.max_rss_mib,
            "consumed": consumed,
            "outputs": outputs,
        }
        res.rows[""] = row
        res.info["child"] = {k: v for k, v in figures.items() if not isinstance(v, float)}
        problems = []
        if consumed != ctx.settings.records:
            problems.append(f"consumed {consumed} of {ctx.settings.records}")
        if expected is not None and outputs < expected:
            problems.append(f"output has {outputs} records, expected {expected}: records lost")
        if expected is not None and outputs > expected:
            res.info["duplicates"] = outputs - expected
        if impl.group_based:
            ok, why_not = side.committed_ok(group, topic)
            if not ok:
                problems.append(why_not)
        res.info["verified"] = not problems
        res.ok = not problems
        res.error = "; ".join(problems)
        return res
    finally:
        side.drop([out], group if impl.group_based else None)


def _print(result: RepResult) -> None:
    row = result.rows.get("", {})
    if result.ok or row:
        print(
            f"[bench] {result.workload:<16} {result.impl:<10} rep {result.rep}: "
            f"{row.get('records_per_s', 0):>10,.0f} rec/s  "
            f"cpu {row.get('cpu_s_per_m', 0):6.2f} s/M  rss {row.get('rss_mib', 0):6.1f} MiB"
            + ("" if result.ok else f"  NOT OK: {result.error}"),
            flush=True,
        )
    else:
        print(
            f"[bench] {result.workload:<16} {result.impl:<10} rep {result.rep}: FAILED "
            f"{result.error.splitlines()[0] if result.error else ''}",
            flush=True,
        )
