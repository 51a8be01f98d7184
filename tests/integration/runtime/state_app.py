"""The stateful application of the process tests: a count per key, with queryable state and
standby replicas. STROM_T_APP, STROM_T_IN, STROM_T_OUT, STROM_T_BROKER, STROM_T_STATE;
STROM_T_STANDBYS (default 0)."""

from __future__ import annotations

import os

import strom

_env = os.environ

app = strom.App(
    _env["STROM_T_APP"],
    broker=_env["STROM_T_BROKER"],
    commit_interval=0.2,
    batch_size=100,
    shutdown_timeout=5,
    state_backend="rocksdb",
    state_dir=_env["STROM_T_STATE"],
    metrics_port=0,
    num_standby_replicas=int(_env.get("STROM_T_STANDBYS", "0")),
    consumer_options={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
)
events = app.topic(_env["STROM_T_IN"])
counts = app.topic(_env["STROM_T_OUT"])
app.stream(events).count(name="per-key").to(counts)
