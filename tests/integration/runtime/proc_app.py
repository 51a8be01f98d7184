"""The application the process tests run with ``strom run``; configured by environment.

STROM_T_APP, STROM_T_IN, STROM_T_OUT: names. STROM_T_BROKER: log URL. STROM_T_GUARANTEE.
STROM_T_SLEEP_MS: work per record. STROM_T_FAIL_AT: the value of "n" on which step "work"
raises. STROM_T_COMMIT_INTERVAL (s), STROM_T_BATCH.
"""

from __future__ import annotations

import os
import time
from typing import Any

import strom

_env = os.environ
_sleep = float(_env.get("STROM_T_SLEEP_MS", "0")) / 1000
_fail_at = int(_env.get("STROM_T_FAIL_AT", "-1"))
_broker = _env["STROM_T_BROKER"]

app = strom.App(
    _env["STROM_T_APP"],
    broker=_broker,
    guarantee=_env.get("STROM_T_GUARANTEE", "at-least-once"),
    commit_interval=float(_env.get("STROM_T_COMMIT_INTERVAL", "0.5")),
    batch_size=int(_env.get("STROM_T_BATCH", "50")),
    # Also bounds a commit in a revoke callback (see the rebalance test on strom.log.kafka).
    shutdown_timeout=5,
    # A killed member is noticed after the session timeout; keep it at the broker's minimum.
    consumer_options={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    if _broker.startswith("kafka://")
    else None,
)
inputs = app.topic(_env["STROM_T_IN"])
outputs = app.topic(_env["STROM_T_OUT"])


def work(value: dict[str, Any]) -> dict[str, Any]:
    if _sleep:
        time.sleep(_sleep)
    if value["n"] == _fail_at:
        raise ValueError(f"cannot handle n={value['n']}")
    return {"n": value["n"], "pid": os.getpid()}


app.stream(inputs).map(work, name="work").to(outputs)
