"""The ``eventsourcing`` library's side of the event store benchmark (runs in its own venv,
bench/.venvs/eventsourcing, with eventsourcing from PyPI); the same steps as
workload_strom.py through its Application, Aggregate and recorder API.

    python bench/es/workload_eventsourcing.py '{"backend": "postgres", ...}'
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any
from urllib.parse import urlparse

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount


class Bank(Application[Any]):
    is_snapshotting_enabled = True


def env_for(cfg: dict[str, Any]) -> dict[str, str]:
    if cfg["backend"] == "sqlite":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": cfg["path"]}
    url = urlparse(cfg["dsn"])
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "strom",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": cfg["schema"],
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y" if cfg.get("db_functions") else "n",
    }


def main() -> None:
    cfg: dict[str, Any] = json.loads(sys.argv[1])
    app = Bank(env=env_for(cfg))
    out: dict[str, float] = {}
    n_aggs, commits = cfg["aggregates"], cfg["commits"]
    accounts = [Account("x") for _ in range(n_aggs)]
    for a in accounts:
        app.save(a)
    started = time.perf_counter()
    for i in range(commits):
        a = accounts[i % n_aggs]
        a.deposit(1)
        app.save(a)
    out["append_1_commits_per_s"] = commits / (time.perf_counter() - started)

    started = time.perf_counter()
    for i in range(commits // 4):
        a = accounts[i % n_aggs]
        for _ in range(10):
            a.deposit(1)
        app.save(a)
    out["append_10_commits_per_s"] = commits // 4 / (time.perf_counter() - started)

    # No snapshots exist yet, so get() replays every event.
    started = time.perf_counter()
    for a in accounts:
        assert app.repository.get(a.id).balance == a.balance
    out["load_no_snapshot_per_s"] = n_aggs / (time.perf_counter() - started)
    out["events_per_aggregate"] = accounts[0].version

    for a in accounts:
        app.take_snapshot(a.id)
        a.deposit(1)
        a.deposit(1)
        app.save(a)
    started = time.perf_counter()
    for a in accounts:
        assert app.repository.get(a.id).balance == a.balance
    out["load_snapshot_per_s"] = n_aggs / (time.perf_counter() - started)

    started = time.perf_counter()
    count, start = 0, 1
    while batch := app.recorder.select_notifications(start, 1000):
        count += len(batch)
        start = batch[-1].id + 1
    out["read_all_events_per_s"] = count / (time.perf_counter() - started)
    out["read_all_events"] = count
    app.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
