"""The windowed application the process tests run with ``strom run`` (the seed's Flink job:
events keyed by user, 5-minute tumbling event-time windows, a count per window).

STROM_T_APP, STROM_T_IN, STROM_T_OUT, STROM_T_BROKER, STROM_T_STATE: names, log URL, state
directory. STROM_T_GUARANTEE, STROM_T_BACKEND, STROM_T_SLEEP_MS (work per record).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import strom

_env = os.environ
_sleep = float(_env.get("STROM_T_SLEEP_MS", "0")) / 1000

app = strom.App(
    _env["STROM_T_APP"],
    broker=_env["STROM_T_BROKER"],
    guarantee=_env.get("STROM_T_GUARANTEE", "at-least-once"),
    commit_interval=0.2,
    batch_size=50,
    shutdown_timeout=5,
    state_backend=_env.get("STROM_T_BACKEND", "rocksdb"),
    state_dir=_env["STROM_T_STATE"],
    consumer_options={"session.timeout.ms": 6000},
)
events = app.topic(_env["STROM_T_IN"])
aggregated = app.topic(_env["STROM_T_OUT"])


def slow(event: dict[str, Any]) -> bool:
    if _sleep:
        time.sleep(_sleep)
    return True


(
    app.stream(events)
    .filter(slow, name="work")
    .window(
        strom.windows.tumbling(timedelta(minutes=5)),
        timestamp=lambda e: e["ts"],
        grace=timedelta(seconds=30),
    )
    .count(name="events-per-5m")
    .to(aggregated)
)
