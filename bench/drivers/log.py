"""Driver of ``log`` workloads: the implementation script appends and reads by itself.

The runner hands each script a fresh place to write (a temporary directory for the embedded
log and the raw file, a fresh topic on the broker for Kafka) and collects the figures it
reports per phase (``append``, ``read``).
"""

from __future__ import annotations

from bench.context import Context, RepResult
from bench.proc import Child
from bench.spec import Impl, Workload


def run(ctx: Context, workload: Workload) -> None:
    """Run every selected implementation on every case, ``repeat`` times."""
    impls = [impl for impl in workload.impls if ctx.selected(impl)]
    broken: set[str] = set()
    for case in workload.cases:
        for rep in range(1, ctx.settings.repeat + 1):
            for impl in impls:
                if impl.name in broken:
                    continue
                res = run_one(ctx, workload, impl, dict(case), rep)
                ctx.results.append(res)
                figures = "  ".join(
                    f"{phase} {row['records_per_s']:>10,.0f} rec/s {row['mb_per_s']:7.1f} MB/s"
                    for phase, row in res.rows.items()
                )
                print(
                    f"[bench] {workload.name:<16} {impl.name:<12} {res.case:<6} rep {rep}: "
                    + (figures if res.ok else f"FAILED {res.error.splitlines()[0]}"),
                    flush=True,
                )
                if res.info.get("fatal"):
                    broken.add(impl.name)
                    ctx.note(workload, f"{impl.label}: not measured: {res.error}")


def run_one(
    ctx: Context,
    workload: Workload,
    impl: Impl,
    case: dict[str, object],
    rep: int,
    wrap: list[str] | None = None,
) -> RepResult:
    """One repetition of one implementation on one case (``wrap``: e.g. a profiler)."""
    case_name = str(case.get("case", ""))
    res = RepResult(workload.name, case_name, impl.name, rep, ok=False)
    backend = impl.backend or workload.backend
    python, why = ctx.python(impl)
    if python is None:
        res.error, res.info["fatal"] = f"{impl.env} venv unavailable: {why}", True
        return res
    if backend == "kafka" and ctx.kafka is None:
        res.error, res.info["fatal"] = "no Kafka broker in this run", True
        return res
    topic = ctx.name(workload.name, impl.name, case_name, rep)
    place = ctx.tmp(f"{impl.name}-{case_name}")
    config = ctx.child_config(workload, impl, case)
    config.update(
        topic=topic,
        records=ctx.settings.log_records,
        batch=ctx.settings.log_batch,
        path=str(place / "data"),
        url=f"kafka://{ctx.kafka.bootstrap}"
        if backend == "kafka" and ctx.kafka
        else f"local://{place / 'log'}",
    )
    child = Child(
        python,
        impl.module,
        config,
        ctx.logs,
        f"{workload.name}-{impl.name}-{case_name}-{rep}",
        wrap=wrap,
    )
    try:
        done = child.wait(ctx.settings.timeout_s)
        res.info.update(returncode=done.returncode, timed_out=done.timed_out)
        if done.result is None:
            res.error = f"exit {done.returncode}, no result line. stderr:\n{done.error_tail()}"
            res.info["fatal"] = done.returncode != 0 and not done.timed_out
            return res
        for phase, figures in done.result["phases"].items():
            row = {k: float(v) for k, v in figures.items()}
            row["cpu_s_per_m"] = row["cpu_s"] / max(row["records"], 1.0) * 1e6
            row["rss_mib"] = done.max_rss_mib
            res.rows[phase] = row
        res.ok = all(row["records"] == ctx.settings.log_records for row in res.rows.values())
        if not res.ok:
            res.error = "a phase did not see every record: " + ", ".join(
                f"{p}={int(r['records'])}" for p, r in res.rows.items()
            )
        return res
    finally:
        if backend == "kafka" and ctx.kafka is not None:
            ctx.kafka.delete([topic])
