"""strom.es side of the event store benchmark (run by ``bench/es/run.py`` in its own process).

    python bench/es/workload_strom.py '{"backend": "postgres", "dsn": ..., "schema": ...}'

Prints one JSON object of figures; see bench/es/run.py for what each one measures.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import strom.es as es


@dataclass
class Opened:
    owner: str


@dataclass
class Deposited:
    amount: int


class Account(es.Aggregate[Opened | Deposited]):
    owner: str
    balance: int

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner = ""
        self.balance = 0

    def apply(self, event: Opened | Deposited) -> None:
        if isinstance(event, Deposited):
            self.balance += event.amount
        else:
            self.owner = event.owner

    def open(self, owner: str) -> None:
        self.record(Opened(owner))

    def deposit(self, amount: int) -> None:
        self.record(Deposited(amount))


def main() -> None:
    cfg: dict[str, Any] = json.loads(sys.argv[1])
    if cfg["backend"] == "postgres":
        store = es.connect(cfg["dsn"], schema=cfg["schema"])
    else:
        store = es.connect(f"sqlite://{cfg['path']}")
    registry = es.EventRegistry().register(Opened).register(Deposited)
    repo = es.Repository(store, Account, registry)
    out: dict[str, float] = {}
    n_aggs, commits = cfg["aggregates"], cfg["commits"]

    # 1-event commits, round-robin over aggregates created (with their first event) beforehand.
    accounts = [Account(f"a{i}") for i in range(n_aggs)]
    for a in accounts:
        a.open("x")
        repo.save(a)
    started = time.perf_counter()
    for i in range(commits):
        a = accounts[i % n_aggs]
        a.deposit(1)
        repo.save(a)
    out["append_1_commits_per_s"] = commits / (time.perf_counter() - started)

    # 10-event commits.
    started = time.perf_counter()
    for i in range(commits // 4):
        a = accounts[i % n_aggs]
        for _ in range(10):
            a.deposit(1)
        repo.save(a)
    elapsed = time.perf_counter() - started
    out["append_10_commits_per_s"] = commits // 4 / elapsed

    # Loads without snapshots: each aggregate has 1 + commits/n + 10 * commits/4/n events.
    started = time.perf_counter()
    for a in accounts:
        assert repo.load(a.id).balance == a.balance
    out["load_no_snapshot_per_s"] = n_aggs / (time.perf_counter() - started)
    out["events_per_aggregate"] = accounts[0].version

    # Snapshot each, add 2 events, load from snapshot + tail.
    for a in accounts:
        repo.take_snapshot(a.id)
        a.deposit(1)
        a.deposit(1)
        repo.save(a)
    started = time.perf_counter()
    for a in accounts:
        assert repo.load(a.id).balance == a.balance
    out["load_snapshot_per_s"] = n_aggs / (time.perf_counter() - started)

    # read_all: every event, in pages of 1000.
    started = time.perf_counter()
    count, position = 0, 1
    while batch := store.read_all(position, limit=1000):
        count += len(batch)
        position = batch[-1].position + 1
    out["read_all_events_per_s"] = count / (time.perf_counter() - started)
    out["read_all_events"] = count
    store.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
