"""The crash harness's pipelines in Quix Streams (runs in the ``quix`` peer virtualenv:
``bench/.venvs/quix``), configured by the same ``CRASH_*`` environment as strom's app.

``processing_guarantee="exactly-once"`` as Quix documents it (its transactional id is its
default, random per process); the same commit interval, session timeout and transaction
timeout as strom's runs. ``stateless``: ``filter`` + ``apply`` to the plain topic, and
``group_by("user")`` (Quix's repartition topic) + a stateful ``apply`` (count and sum in the
state store, changelogged) to the counts topic. ``windowed``: ``group_by("user")`` +
``tumbling_window(...).count().final()``; Quix drops late records (no late topic), so the
harness gives it a grace far beyond the partitions' skew.

Instrumentation, not a change of behaviour: Quix's checkpoint commit and state recovery are
wrapped, and its ``on_message_processed`` callback used, to write the phase file.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from quixstreams import Application
from quixstreams.checkpointing.checkpoint import Checkpoint
from quixstreams.state.recovery import RecoveryManager

from tests.crash import workload as w
from tests.crash.phases import PhaseWriter

_env = os.environ
_phase = PhaseWriter(_env["CRASH_PHASE_FILE"]) if _env.get("CRASH_PHASE_FILE") else None


def _instrument(phase: PhaseWriter) -> None:
    commit = Checkpoint.commit
    recover = RecoveryManager.do_recovery

    def commit_(self: Checkpoint, *args: Any, **kwargs: Any) -> Any:
        phase.set("commit")
        try:
            return commit(self, *args, **kwargs)
        finally:
            phase.set("process")

    def recover_(self: RecoveryManager) -> Any:
        phase.set("restore")
        try:
            return recover(self)
        finally:
            phase.set("process")

    Checkpoint.commit = commit_  # type: ignore[method-assign]
    RecoveryManager.do_recovery = recover_  # type: ignore[method-assign]


def _processed(topic: str, partition: int, offset: int) -> None:
    if _phase is not None and _phase.phase != "process":
        _phase.set("process")


def _count(v: dict[str, Any], state: Any) -> dict[str, Any]:
    acc = state.get("acc") or {"n": 0, "sum": 0}
    acc = {"user": v["user"], "n": acc["n"] + 1, "sum": acc["sum"] + v["seq"]}
    state.set("acc", acc)
    return acc


def _window_result(value: dict[str, Any], key: Any, timestamp: int, headers: Any) -> Any:
    return {"user": key, "start": value["start"], "end": value["end"], "count": value["value"]}


def main() -> None:
    if _phase is not None:
        _instrument(_phase)
    app = Application(
        broker_address=_env["CRASH_BROKER"].removeprefix("kafka://"),
        consumer_group=_env["CRASH_APP"],
        auto_offset_reset="earliest",
        commit_interval=float(_env.get("CRASH_COMMIT_INTERVAL", "0.1")),
        processing_guarantee="exactly-once",
        state_dir=_env.get("CRASH_STATE_DIR", "state"),
        consumer_extra_config={"session.timeout.ms": int(_env.get("CRASH_SESSION_MS", "6000"))},
        producer_extra_config={
            "transaction.timeout.ms": int(float(_env.get("CRASH_TRANSACTION_TIMEOUT", "30")) * 1000)
        },
        on_message_processed=_processed,
        loglevel=logging.INFO,
    )
    source = app.topic(_env["CRASH_IN"], key_deserializer="str", value_deserializer="json")
    sdf = app.dataframe(source)
    if _env.get("CRASH_PIPELINE", "stateless") == "stateless":
        plain = app.topic(_env["CRASH_OUT_PLAIN"], key_serializer="str", value_serializer="json")
        counts = app.topic(_env["CRASH_OUT_COUNTS"], value_serializer="json")
        sdf.filter(w.keep_plain).apply(w.plain).to_topic(plain)
        sdf.group_by("user").apply(_count, stateful=True).to_topic(counts)
    else:
        windows = app.topic(_env["CRASH_OUT_WINDOWS"], value_serializer="json")
        grace = int(_env.get("CRASH_GRACE_MS", w.GRACE_MS))
        (
            sdf.group_by("user")
            .tumbling_window(w.WINDOW_MS, grace_ms=grace)
            .count()
            .final()
            .apply(_window_result, metadata=True)
            .to_topic(windows)
        )
    app.run()


if __name__ == "__main__":
    main()
