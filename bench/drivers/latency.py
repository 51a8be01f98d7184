"""Driver of ``latency`` workloads: end-to-end latency at a fixed offered load, on Kafka.

Per repetition and implementation, on fresh topics: the probe starts (reading the output
topic), then the implementation (tailing the input), then, once the implementation's group is
Stable with every partition assigned (or, for one without a group, once it said it is ready
plus a few seconds), the load generator sends ``latency_warmup_s`` of warm-up and
``latency_seconds`` of measured events at ``latency_rate`` events/s. Latency = the probe's
clock when it receives an output record - the generator's clock right before it sent the
input record (one machine, one clock). The implementation is stopped after the probe is done.
"""

from __future__ import annotations

import signal
import sys
import time

from bench import data
from bench.context import Context, RepResult
from bench.kafka import Kafka
from bench.proc import Child
from bench.spec import Impl, Workload

PROBE = "bench.workloads.latency.probe"
LOADGEN = "bench.workloads.latency.loadgen"
READY_TIMEOUT_S = 90.0
NO_GROUP_SETTLE_S = 5.0


def run(ctx: Context, workload: Workload) -> None:
    """Run every selected implementation of ``workload``, ``repeat`` times."""
    impls = [impl for impl in workload.impls if ctx.selected(impl)]
    if not impls:
        return
    if ctx.kafka is None:
        ctx.note(workload, "not run: no Kafka broker in this run")
        return
    broken: set[str] = set()
    for rep in range(1, ctx.settings.repeat + 1):
        for impl in impls:
            if impl.name in broken:
                continue
            res = run_one(ctx, ctx.kafka, workload, impl, rep)
            ctx.results.append(res)
            row = res.rows.get("", {})
            print(
                f"[bench] {workload.name:<16} {impl.name:<10} rep {rep}: "
                + (
                    f"p50 {row.get('p50_ms', 0):7.2f} ms  p99 {row.get('p99_ms', 0):7.2f} ms  "
                    f"max {row.get('max_ms', 0):7.1f} ms"
                    if row
                    else "FAILED"
                )
                + ("" if res.ok else f"  NOT OK: {res.error.splitlines()[0] if res.error else ''}"),
                flush=True,
            )
            if res.info.get("fatal"):
                broken.add(impl.name)
                ctx.note(workload, f"{impl.label}: not measured: {res.error}")


def run_one(ctx: Context, kafka: Kafka, workload: Workload, impl: Impl, rep: int) -> RepResult:
    """One repetition of one implementation at the offered load. An implementation without a
    module is the floor: no pipeline, the probe reads the input topic itself."""
    s = ctx.settings
    res = RepResult(workload.name, "", impl.name, rep, ok=False)
    python, why = ctx.python(impl)
    if python is None:
        res.error, res.info["fatal"] = f"{impl.env} venv unavailable: {why}", True
        return res
    floor = not impl.module
    inp = ctx.name(workload.name, impl.name, rep, "in")
    out = inp if floor else ctx.name(workload.name, impl.name, rep, "out")
    group = ctx.name(workload.name, impl.name, rep)
    kafka.create(dict.fromkeys([inp, out]), s.partitions)
    warmup = int(s.latency_rate * s.latency_warmup_s)
    total = warmup + int(s.latency_rate * s.latency_seconds)
    expected = total if floor else data.login_count(data.actions(total))
    base = ctx.child_config(workload, impl, {})
    base.update(input_topic=inp, output_topic=out, bootstrap=kafka.bootstrap)
    name = f"{workload.name}-{impl.name}-{rep}"
    children: list[Child] = []
    try:
        probe = Child(
            sys.executable,
            PROBE,
            {
                **base,
                "expected": expected,
                "timeout_s": s.latency_warmup_s + s.latency_seconds + 60,
            },
            ctx.logs,
            f"{name}-probe",
        )
        children.append(probe)
        _wait_ready(probe, READY_TIMEOUT_S)
        app = None
        if not floor:
            app_config = {
                **base,
                "group": group,
                "records": total,
                "tail": True,
                "state_dir": str(ctx.tmp(f"{impl.name}-state")),
            }
            app = Child(python, impl.module, app_config, ctx.logs, name)
            children.append(app)
            if impl.group_based:
                if not kafka.wait_group_stable(group, s.partitions, READY_TIMEOUT_S):
                    raise RuntimeError(
                        _died_or(app, f"group {group} not Stable after {READY_TIMEOUT_S:.0f} s")
                    )
            else:
                _wait_ready(app, READY_TIMEOUT_S)
                time.sleep(NO_GROUP_SETTLE_S)
        gen_config = {
            **base,
            "rate": s.latency_rate,
            "seconds": s.latency_seconds,
            "warmup_s": s.latency_warmup_s,
            "seed": data.SEED,
        }
        gen = Child(sys.executable, LOADGEN, gen_config, ctx.logs, f"{name}-loadgen")
        children.append(gen)
        gen_run = gen.wait(s.latency_warmup_s + s.latency_seconds + 120)
        probe_run = probe.wait(s.latency_warmup_s + s.latency_seconds + 120)
        # The app stops by itself after the last input; one that tails forever is stopped here.
        own_stop = 0.0 if impl.config.get("tails_forever") else 15.0
        app_run = app.wait(own_stop, sig=_stop_signal(impl)) if app is not None else None
        if probe_run.result is None or gen_run.result is None:
            res.error = "probe or load generator gave no result: " + (
                probe_run.error_tail() or gen_run.error_tail()
            )
            return res
        p, g = probe_run.result, gen_run.result
        res.rows[""] = {
            "p50_ms": p["p50_ms"],
            "p90_ms": p["p90_ms"],
            "p99_ms": p["p99_ms"],
            "p999_ms": p["p999_ms"],
            "max_ms": p["max_ms"],
            "measured": p["measured"],
            "received": p["received"],
            "achieved_rate": g["achieved_rate"],
            "max_schedule_lag_ms": g["max_schedule_lag_ms"],
        }
        if app_run is not None:
            res.rows[""].update(cpu_total_s=app_run.cpu_total_s, rss_mib=app_run.max_rss_mib)
        problems = []
        if p["received"] < expected:
            problems.append(f"probe received {p['received']} of {expected} outputs")
        res.ok = not problems
        res.error = "; ".join(problems)
        return res
    except RuntimeError as exc:
        res.error = str(exc)
        res.info["fatal"] = True
        return res
    finally:
        for child in reversed(children):
            if child.running():
                child.stop(grace=15.0)
        kafka.delete(list(dict.fromkeys([inp, out])))
        kafka.delete_group(group)


def _stop_signal(impl: Impl) -> int:
    return signal.SIGINT if impl.config.get("stop_signal") == "SIGINT" else signal.SIGTERM


def _wait_ready(child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.ready():
            return
        if not child.running():
            raise RuntimeError(_died_or(child, "exited before it was ready"))
        time.sleep(0.05)
    raise RuntimeError(f"not ready after {timeout:.0f} s")


def _died_or(child: Child, message: str) -> str:
    if child.running():
        return message
    done = child.stop(0)
    return f"exit {done.returncode} before it was ready. stderr:\n{done.error_tail()}"
