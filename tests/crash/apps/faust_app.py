"""The crash harness's stateless pipeline in faust-streaming (runs in the ``faust`` peer
virtualenv: ``bench/.venvs/faust``), configured by the same ``CRASH_*`` environment.

``processing_guarantee="exactly_once"``, the same commit interval and session timeout as
strom's runs, tables in faust's memory store (restored from their changelog at start; the
RocksDB store needs a driver faust-streaming does not install). One agent over the input:
the kept records to the plain topic, every record to an internal topic keyed by user (the
repartition); a second agent over that topic counts per user in a table (count and sum of
seqs) and sends each new value to the counts topic. faust has no final-window output (its
windowed tables are read, not emitted), so the windowed pipeline is not run on it.

Instrumentation, not a change of behaviour: faust's consumer commit and table recovery are
wrapped, and the agents write the phase, to fill the phase file.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import faust
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer

from tests.crash import workload as w
from tests.crash.phases import PhaseWriter

_env = os.environ
_phase = PhaseWriter(_env["CRASH_PHASE_FILE"]) if _env.get("CRASH_PHASE_FILE") else None


def _instrument(phase: PhaseWriter) -> None:
    commit = Consumer.commit
    started = Recovery._set_recovery_started
    ended = Recovery._set_recovery_ended

    async def commit_(self: Consumer, *args: Any, **kwargs: Any) -> Any:
        phase.set("commit")
        try:
            return await commit(self, *args, **kwargs)
        finally:
            phase.set("process")

    def started_(self: Recovery) -> None:
        phase.set("restore")
        started(self)

    def ended_(self: Recovery) -> None:
        ended(self)
        phase.set("process")

    Consumer.commit = commit_  # type: ignore[method-assign]
    Recovery._set_recovery_started = started_  # type: ignore[method-assign]
    Recovery._set_recovery_ended = ended_  # type: ignore[method-assign]


def _processing() -> None:
    if _phase is not None and _phase.phase != "process":
        _phase.set("process")


def main() -> None:
    if _env.get("CRASH_PIPELINE", "stateless") != "stateless":
        raise SystemExit("faust has no final-window output: only the stateless pipeline runs")
    if _phase is not None:
        _instrument(_phase)
    name = _env["CRASH_APP"]
    partitions = int(_env.get("CRASH_PARTITIONS", "4"))
    app = faust.App(
        name,
        broker=_env["CRASH_BROKER"],
        processing_guarantee="exactly_once",
        store="memory://",
        datadir=_env.get("CRASH_STATE_DIR", "state"),
        broker_commit_interval=float(_env.get("CRASH_COMMIT_INTERVAL", "0.1")),
        broker_session_timeout=int(_env.get("CRASH_SESSION_MS", "6000")) / 1000,
        broker_heartbeat_interval=0.5,
        consumer_auto_offset_reset="earliest",
        topic_partitions=partitions,
        topic_allow_declare=True,
        web_enabled=False,
    )
    source = app.topic(
        _env["CRASH_IN"], key_type=bytes, value_serializer="json", partitions=partitions
    )
    plain_out = app.topic(
        _env["CRASH_OUT_PLAIN"], key_type=bytes, value_serializer="json", partitions=partitions
    )
    counts_out = app.topic(
        _env["CRASH_OUT_COUNTS"],
        key_type=str,
        key_serializer="raw",
        value_serializer="json",
        partitions=partitions,
    )
    by_user = app.topic(
        f"{name}-by-user-repartition",
        key_type=str,
        key_serializer="raw",
        value_serializer="json",
        partitions=partitions,
        internal=True,
    )
    table = app.Table("per-user", default=None, partitions=partitions)

    @app.agent(source)
    async def split(stream: Any) -> None:
        async for key, v in stream.items():
            _processing()
            if w.keep_plain(v):
                await plain_out.send(key=key, value=w.plain(v))
            await by_user.send(key=str(v["user"]), value=v)

    @app.agent(by_user)
    async def count(stream: Any) -> None:
        async for user, v in stream.items():
            _processing()
            acc = table.get(user) or {"n": 0, "sum": 0}
            acc = {"user": user, "n": acc["n"] + 1, "sum": acc["sum"] + v["seq"]}
            table[user] = acc
            await counts_out.send(key=user, value=acc)

    worker = faust.Worker(app, loglevel=logging.INFO, override_logging=False)
    with contextlib.suppress(SystemExit):
        worker.execute_from_commandline()


if __name__ == "__main__":
    main()
