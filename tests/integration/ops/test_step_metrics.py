"""Per-step records in/out and processing time, and end-to-end latency, scraped over HTTP from
a running application, on both logs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

import strom
import strom.errors as errors
import strom.log
from strom.log import Log
from tests.conftest import unique
from tests.integration.ops.support import drive, scrape, value
from tests.integration.runtime.support import create, lag


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def log(request: pytest.FixtureRequest) -> Iterator[Log]:
    opened = strom.log.connect(str(request.getfixturevalue(f"{request.param}_url")))
    yield opened
    opened.close()


def parse(value: dict[str, int]) -> int:
    if value["n"] % 10 == 3:
        raise ValueError(f"no threes: {value['n']}")
    return value["n"]


def build(log: Log, events: str, out: str, **settings: Any) -> strom.App:
    """source -> parse (fails on 3 and 13: skipped) -> even -> twice (n, -n) -> write."""
    app = strom.App(unique("app"), broker=log.url, on_error=errors.skip(), **settings)
    (
        app.stream(app.topic(events))
        .map(parse, name="parse")
        .filter(lambda n: n % 2 == 0, name="even")
        .flat_map(lambda n: [n, -n], name="twice")
        .to(app.topic(out, partitions=1), name="write")
    )
    return app


def send(log: Log, topic: str, count: int, *, age_ms: int = 0) -> None:
    producer = log.producer()
    stamp = time.time_ns() // 1_000_000 - age_ms
    try:
        for n in range(count):
            producer.send(topic, json.dumps({"n": n}).encode(), partition=n % 2, timestamp=stamp)
        producer.flush(30)
    finally:
        producer.close()


def test_each_step_counts_records_in_and_out_and_times_its_batches(log: Log) -> None:
    events, out = unique("events"), unique("out")
    create(log, events, 2)
    send(log, events, 20, age_ms=60_000)  # records written a minute ago
    app = build(log, events, out, metrics_port=0)
    runner = app.runner(log)
    runner.start()
    try:
        assert runner.operations.server is not None
        drive(runner, lambda: lag(log, app) == 0)
        got = scrape(runner.operations.server.url)
    finally:
        runner.close()

    def count(name: str, step: str) -> float | None:
        return value(got, name, app=app.name, step=step)

    expected = {  # step: (in, out)
        f"source:{events}": (20, 20),
        "parse": (20, 18),  # 3 and 13 raised (skipped)
        "even": (18, 10),
        "twice": (10, 20),
        "write": (20, 20),
    }
    for step, (records_in, records_out) in expected.items():
        assert count("strom_records_in_total", step) == records_in, step
        assert count("strom_records_out_total", step) == records_out, step
    for step in ("parse", "even", "twice", "write"):
        # One observation per batch in which the step saw records (timing is on with the
        # endpoint).
        batches = count("strom_step_processing_seconds_count", step)
        assert batches is not None and batches >= 1, step
    assert count("strom_skipped_total", "parse") == 2
    # End-to-end latency: sampled per partition per batch, each at least the records' age.
    observed = value(got, "strom_end_to_end_latency_seconds_count", app=app.name)
    total = value(got, "strom_end_to_end_latency_seconds_sum", app=app.name)
    assert observed is not None and observed >= 2  # both partitions were sampled
    assert total is not None and total >= 60 * observed


def test_step_timing_can_be_switched_off(log: Log) -> None:
    events, out = unique("events"), unique("out")
    create(log, events, 2)
    send(log, events, 10)
    app = build(log, events, out, metrics_port=0, step_timing=False)
    runner = app.runner(log)
    runner.start()
    try:
        drive(runner, lambda: lag(log, app) == 0)
        metrics = runner.operations.metrics
        assert metrics.value("strom_records_in_total", step="parse") == 10
        assert metrics.value("strom_records_out_total", step="write") == 10  # 0,2,..8 twice
        assert metrics.value("strom_step_processing_seconds_count", step="parse") == 0
        assert (metrics.value("strom_batch_processing_seconds_count") or 0) >= 1
    finally:
        runner.close()
