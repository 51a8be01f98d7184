"""The application the process tests run with ``strom run``; configured by environment.

STROM_T_APP, STROM_T_IN, STROM_T_OUT: names. STROM_T_BROKER: log URL. STROM_T_GUARANTEE.
STROM_T_SLEEP_MS: work per record. STROM_T_FAIL_AT: the value of "n" on which step "work"
raises. STROM_T_COMMIT_INTERVAL (s), STROM_T_BATCH. STROM_T_REKEY=1: re-key by ``n % 7``
first (a repartition). STROM_T_COOPERATIVE=1: the cooperative-sticky assignor (Kafka).
STROM_T_SESSION_MS: the group session timeout. STROM_T_SINK=PATH: also write each output's
"n" to PATH.<pid> through a batching sink, which refuses (busy) its first flush after the
file PATH.fail appears, and deletes that file. STROM_T_INSTANCE: the consumer's
group.instance.id (static membership, Kafka).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import strom
from strom.errors import SinkBusyError
from strom.sinks import BatchingSink, SinkRecord

_env = os.environ
_sleep = float(_env.get("STROM_T_SLEEP_MS", "0")) / 1000
_fail_at = int(_env.get("STROM_T_FAIL_AT", "-1"))
_broker = _env["STROM_T_BROKER"]
_session_ms = int(_env.get("STROM_T_SESSION_MS", "6000"))
_consumer_options: dict[str, Any] = {"session.timeout.ms": _session_ms}
if _broker.startswith("kafka://"):
    _consumer_options["heartbeat.interval.ms"] = 500
    if _env.get("STROM_T_INSTANCE"):
        _consumer_options["group.instance.id"] = _env["STROM_T_INSTANCE"]
    if _env.get("STROM_T_COOPERATIVE") == "1":
        _consumer_options["partition.assignment.strategy"] = "cooperative-sticky"

app = strom.App(
    _env["STROM_T_APP"],
    broker=_broker,
    guarantee=_env.get("STROM_T_GUARANTEE", "at-least-once"),
    commit_interval=float(_env.get("STROM_T_COMMIT_INTERVAL", "0.5")),
    batch_size=int(_env.get("STROM_T_BATCH", "50")),
    # Also bounds a commit in a revoke callback (see the rebalance test on strom.log.kafka).
    shutdown_timeout=5,
    # A killed member is noticed after the session timeout; keep it at the broker's minimum.
    consumer_options=_consumer_options,
)
inputs = app.topic(_env["STROM_T_IN"])
outputs = app.topic(_env["STROM_T_OUT"])


def work(value: dict[str, Any]) -> dict[str, Any]:
    if _sleep:
        time.sleep(_sleep)
    if value["n"] == _fail_at:
        raise ValueError(f"cannot handle n={value['n']}")
    return {"n": value["n"], "pid": os.getpid()}


class FileSink(BatchingSink):
    """Appends each value's "n" to a file of this process; busy once per PATH.fail file."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._out = Path(f"{path}.{os.getpid()}")
        self._fail = Path(f"{path}.fail")

    def write(self, batch: list[SinkRecord]) -> None:
        if self._fail.exists():
            self._fail.unlink()
            raise SinkBusyError("test sink refuses this flush", retry_after=0.2)
        with self._out.open("a") as out:
            out.write("".join(f"{r.value['n']}\n" for r in batch))


stream = app.stream(inputs)
if _env.get("STROM_T_REKEY") == "1":
    stream = stream.key_by(lambda v: str(v["n"] % 7), name="rekey")
processed = stream.map(work, name="work")
processed.to(outputs)
if _env.get("STROM_T_SINK"):
    processed.sink(FileSink(_env["STROM_T_SINK"]), name="file")
