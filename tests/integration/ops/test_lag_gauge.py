"""``strom_consumer_lag`` of a running application, scraped over HTTP, on both logs: records
written while the application does not poll show up as lag per partition, and the lag drops
to 0 once they are processed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

import strom
import strom.log
from strom.errors import ConfigError
from strom.log import Log
from tests.conftest import unique
from tests.integration.ops.support import drive, scrape, value
from tests.integration.runtime.support import create, lag

INTERVAL = 0.05  # seconds between lag samples


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def log(request: pytest.FixtureRequest) -> Iterator[Log]:
    opened = strom.log.connect(str(request.getfixturevalue(f"{request.param}_url")))
    yield opened
    opened.close()


def send(log: Log, topic: str, per_partition: dict[int, int]) -> None:
    producer = log.producer()
    try:
        for partition, count in per_partition.items():
            for n in range(count):
                producer.send(topic, json.dumps({"n": n}).encode(), partition=partition)
        producer.flush(30)
    finally:
        producer.close()


def test_lag_per_partition_is_served_and_drops_to_zero(log: Log) -> None:
    events, out = unique("events"), unique("out")
    create(log, events, 2)
    send(log, events, {0: 3, 1: 2})
    app = strom.App(unique("app"), broker=log.url, metrics_port=0, lag_interval=INTERVAL)
    app.stream(app.topic(events)).to(app.topic(out, partitions=1))
    runner = app.runner(log)
    runner.start()
    try:
        server = runner.operations.server
        assert server is not None

        def lags() -> tuple[float | None, float | None]:
            got = scrape(server.url)
            labels = {"app": app.name, "topic": events}
            return (
                value(got, "strom_consumer_lag", **labels, partition="0"),
                value(got, "strom_consumer_lag", **labels, partition="1"),
            )

        drive(runner, lambda: lag(log, app) == 0)  # positions known: 3 and 2
        # The application does not poll while these are written.
        send(log, events, {0: 7, 1: 4})
        time.sleep(INTERVAL * 2)  # the next step samples the lag before it polls
        runner.step(timeout=0.1)
        assert lags() == (7.0, 4.0)

        drive(runner, lambda: lag(log, app) == 0 and lags() == (0.0, 0.0))
    finally:
        runner.close()


def test_lag_interval_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="lag_interval must be positive"):
        strom.App(unique("app"), broker="local://unused", lag_interval=0)
