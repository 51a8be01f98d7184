"""The strom application the crash harness runs with ``strom run``; configured by environment.

CRASH_APP (name), CRASH_BROKER (log URL), CRASH_IN and CRASH_OUT_<ROLE> (topics),
CRASH_PIPELINE (``stateless``: a plain map/filter branch and a re-keyed rolling aggregate;
``windowed``: re-keyed tumbling windows counted, final results), CRASH_GUARANTEE (default
exactly-once), CRASH_COMMIT_INTERVAL (s), CRASH_BATCH, CRASH_SESSION_MS, CRASH_INSTANCE (a
static group member id on Kafka; empty: dynamic membership), CRASH_STATE_DIR,
CRASH_STATE_BACKEND, CRASH_PHASE_FILE (see :mod:`tests.crash.phases`).

Instrumentation, not a change of behaviour: the runtime's checkpoint, restore and processing
entry points are wrapped to record the phase (one ``pwrite`` when it changes), so the harness
knows what each kill interrupted.
"""

from __future__ import annotations

import os
from typing import Any

import strom
from strom.runtime.checkpoint import Checkpoint
from strom.runtime.runner import Runner
from strom.runtime.state_tasks import StateTasks
from tests.crash import workload as w
from tests.crash.phases import PhaseWriter

_env = os.environ
_broker = _env["CRASH_BROKER"]
_phase = PhaseWriter(_env["CRASH_PHASE_FILE"]) if _env.get("CRASH_PHASE_FILE") else None


def _instrument(phase: PhaseWriter) -> None:
    commit = Checkpoint.commit
    restore_step = StateTasks.restore_step
    process = Runner._process
    close = Runner.close

    def commit_(self: Checkpoint, *args: Any, **kwargs: Any) -> Any:
        before = phase.phase
        phase.set("commit")
        try:
            return commit(self, *args, **kwargs)
        finally:
            phase.set("stop" if before == "stop" else "process")

    def restore_step_(self: StateTasks, timeout: float) -> Any:
        if self.restoring:
            phase.set("restore")
        return restore_step(self, timeout)

    def process_(self: Runner, records: Any) -> None:
        phase.set("process")
        process(self, records)

    def close_(self: Runner, timeout: float | None = None) -> None:
        phase.set("stop")
        close(self, timeout)

    Checkpoint.commit = commit_  # type: ignore[method-assign]
    StateTasks.restore_step = restore_step_  # type: ignore[method-assign]
    Runner._process = process_  # type: ignore[method-assign]
    Runner.close = close_  # type: ignore[method-assign]


if _phase is not None:
    _instrument(_phase)

_consumer_options: dict[str, Any] = {
    "session.timeout.ms": int(_env.get("CRASH_SESSION_MS", "6000"))
}
if _broker.startswith("kafka://"):
    _consumer_options["heartbeat.interval.ms"] = 500
    if _env.get("CRASH_INSTANCE"):
        _consumer_options["group.instance.id"] = _env["CRASH_INSTANCE"]

app = strom.App(
    _env["CRASH_APP"],
    broker=_broker,
    guarantee=_env.get("CRASH_GUARANTEE", "exactly-once"),
    commit_interval=float(_env.get("CRASH_COMMIT_INTERVAL", "0.1")),
    batch_size=int(_env.get("CRASH_BATCH", "200")),
    shutdown_timeout=10,
    transaction_timeout=float(_env.get("CRASH_TRANSACTION_TIMEOUT", "10")),
    consumer_options=_consumer_options,
    state_dir=_env.get("CRASH_STATE_DIR", ".strom-state"),
    state_backend=_env.get("CRASH_STATE_BACKEND", "rocksdb"),
)
source = app.topic(_env["CRASH_IN"])
events = app.stream(source)
pipeline = _env.get("CRASH_PIPELINE", "stateless")


def _count(acc: dict[str, Any], v: dict[str, Any]) -> dict[str, Any]:
    return {"user": v["user"], "n": acc["n"] + 1, "sum": acc["sum"] + v["seq"]}


def _zero() -> dict[str, Any]:
    return {"user": "", "n": 0, "sum": 0}


def _user(v: dict[str, Any]) -> str:
    return str(v["user"])


def _window_result(r: dict[str, Any]) -> dict[str, Any]:
    return {"user": r["key"], "start": r["start"], "end": r["end"], "count": r["value"]}


if pipeline == "stateless":
    events.filter(w.keep_plain, name="keep").map_values(w.plain, name="plain").to(
        app.topic(_env["CRASH_OUT_PLAIN"])
    )
    events.key_by(_user, name="by-user").aggregate(_zero, _count, name="per-user").to(
        app.topic(_env["CRASH_OUT_COUNTS"])
    )
elif pipeline == "windowed":
    (
        events.key_by(_user, name="by-user")
        .window(
            strom.windows.tumbling(w.WINDOW_MS),
            grace=int(_env.get("CRASH_GRACE_MS", w.GRACE_MS)),
            late=app.topic(_env["CRASH_OUT_LATE"]),
        )
        .count(name="per-window")
        .map_values(_window_result, name="result")
        .to(app.topic(_env["CRASH_OUT_WINDOWS"]))
    )
else:
    raise strom.errors.ConfigError(f"CRASH_PIPELINE {pipeline!r} is unknown")
