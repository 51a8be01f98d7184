"""The outbox relay under SIGKILL: every event published exactly once, in order per stream.

A real ``strom es relay`` process is killed (SIGKILL) again and again while it publishes and
while new events are appended, then run to the end. The topic, read with read_committed, must
hold each event once, and each stream's events in version order. On Kafka (with the
PostgreSQL store) and on the embedded log (with the SQLite store).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

import strom.errors
import strom.es as es
import strom.log
from strom.log import TopicPartition
from tests.conftest import REPO, unique
from tests.contract.event_store_support import drop_schema, unique_schema

STREAMS = 8
KILLS = 4
WAIT = 60.0


def append_some(store: es.EventStore, rng: random.Random, count: int) -> None:
    """``count`` events over STREAMS streams, in appends of 1 to 3 events."""
    done = 0
    while done < count:
        n = min(rng.randint(1, 3), count - done)
        stream = f"order-{rng.randrange(STREAMS)}"
        store.append(stream, [es.NewEvent("Step", b'{"n":%d}' % (done + i)) for i in range(n)])
        done += n


def relay_cmd(store_url: str, schema: str | None, broker: str, topic: str, name: str) -> list[str]:
    cmd = [sys.executable, "-m", "strom.cli.main", "es", "--store", store_url]
    if schema:
        cmd += ["--schema", schema]
    return [
        *cmd,
        "relay",
        "--topic",
        topic,
        "--name",
        name,
        "--partitions",
        "3",
        "--batch-size",
        "7",
        "--broker",
        broker,
    ]


def progress(consumer: strom.log.Consumer, topic: str) -> int:
    """The relay's committed position (next position to publish, 0 when none), read with a
    consumer of the relay's group that never joins it."""
    tp = TopicPartition(topic, 0)
    try:
        return consumer.committed([tp])[tp] or 0
    except strom.errors.StromError:  # the topic does not exist yet
        return 0


def read_topic(log: strom.log.Log, topic: str, expected: int) -> list[strom.log.Record]:
    """Every committed record of ``topic`` (read_committed), reading until idle past
    ``expected`` records."""
    consumer = log.consumer(isolation_level="read_committed")
    consumer.assign([TopicPartition(topic, p) for p in range(3)])
    for p in range(3):
        consumer.seek(TopicPartition(topic, p), strom.log.OFFSET_BEGINNING)
    records: list[strom.log.Record] = []
    deadline = time.monotonic() + WAIT
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(1000, timeout=1.0)
            records.extend(batch)
            if not batch and len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


def run_crash_test(
    store: es.EventStore, store_url: str, schema: str | None, broker: str, tmp_path: Path
) -> None:
    rng = random.Random(20261127)
    topic, name = unique("outbox"), unique("relay")
    append_some(store, rng, 1500)
    log = strom.log.connect(broker)
    watcher = log.consumer(f"strom-es-outbox.{name}")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    kills_mid_run = 0
    try:
        seen = 0
        for kill in range(KILLS):
            out = (tmp_path / f"relay-{kill}.log").open("wb")
            proc = subprocess.Popen(
                relay_cmd(store_url, schema, broker, topic, name),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
            # Kill only once it has published something since it started: mid-run, not idle.
            # (Progress is not read after the kill: the killed relay's open transaction keeps
            # the committed offset "unstable" on Kafka until the next relay fences it.)
            before, deadline = seen, time.monotonic() + WAIT
            while (seen := progress(watcher, topic)) <= before and time.monotonic() < deadline:
                assert proc.poll() is None, (tmp_path / f"relay-{kill}.log").read_text()
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.1))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=WAIT)
            if seen <= store.last_position():
                kills_mid_run += 1
            append_some(store, rng, 1000)  # new events while no relay runs
        final = subprocess.run(
            [*relay_cmd(store_url, schema, broker, topic, name), "--idle-timeout", "2"],
            env=env,
            capture_output=True,
            timeout=WAIT * 2,
            check=False,
        )
        assert final.returncode == 0, final.stderr.decode()
        total = store.last_position()
        assert progress(watcher, topic) == total + 1
        records = read_topic(log, topic, total)
    finally:
        watcher.close()
        log.close()
    # Most kills land mid-run (a fast relay may finish a round before its kill).
    assert kills_mid_run >= KILLS // 2
    header = lambda r, k: r.header(f"strom.es.{k}").decode()  # noqa: E731
    ids = [header(r, "id") for r in records]
    assert len(ids) == len(set(ids)) == total  # each event once: no loss, no duplicate
    assert sorted(int(header(r, "position")) for r in records) == list(range(1, total + 1))
    per_stream: dict[str, list[int]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert r.key is not None
        per_stream[r.key.decode()].append(int(header(r, "version")))
    for stream, versions in per_stream.items():
        assert versions == list(range(1, store.stream_version(stream) + 1)), stream


@pytest.mark.kafka
@pytest.mark.postgres
def test_relay_killed_repeatedly_on_kafka(
    kafka_url: str, postgres_dsn: str, tmp_path: Path
) -> None:
    schema = unique_schema("outbox")
    store = es.connect(postgres_dsn, schema=schema)
    try:
        run_crash_test(store, postgres_dsn, schema, kafka_url, tmp_path)
    finally:
        store.close()
        drop_schema(postgres_dsn, schema)


def test_relay_killed_repeatedly_on_the_embedded_log(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'events.db'}"
    store = es.connect(url)
    try:
        run_crash_test(store, url, None, f"local://{tmp_path / 'log'}", tmp_path)
    finally:
        store.close()
