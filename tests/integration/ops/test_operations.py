"""The runtime's operations object on a real log: dead-letter topics created, failures routed
by policy, retry pauses honoured, metrics and health updated, endpoint served."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

import strom.errors as errors
import strom.log
from strom.dead_letter import parse
from strom.errors import ProcessingError, SerializationError
from strom.log import Log, Record, TopicPartition
from strom.runtime.operations import Operations
from tests.conftest import unique
from tests.contract.log_support import make_topic, read_all


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def log(request: pytest.FixtureRequest) -> Iterator[Log]:
    opened = strom.log.connect(str(request.getfixturevalue(f"{request.param}_url")))
    yield opened
    opened.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def located(step: str, cause: Exception) -> ProcessingError:
    error = ProcessingError(f"step {step!r} raised", step=step)
    error.__cause__ = cause
    return error


def test_failures_are_routed_by_step_policy(log: Log) -> None:
    source = make_topic(log, "orders")
    dlq = unique("orders-dlq")
    clock = Clock()
    ops = Operations(
        unique("app"),
        on_error=errors.fail(),
        step_policies={
            "price": errors.dead_letter(dlq),
            "enrich": errors.retry(3, initial=2, jitter=0, then=errors.skip()),
        },
        on_deserialization_error=errors.dead_letter(dlq),
        clock=clock,
    )
    admin, producer, consumer = log.admin(), log.producer(), log.consumer(unique("g"))
    try:
        ops.start(admin, producer, consumer)
        assert dlq in admin.list_topics()  # created up front
        consumer.assign([TopicPartition(source, 0)])
        bad = Record(source, 0, 7, b"k", b"\xff", 123, (("h", b"1"),))

        response = ops.on_failure(located("price", ValueError("no price")), bad)
        assert response is not None and response.action is errors.Action.DEAD_LETTER
        decode = SerializationError("not JSON", topic=source, partition=0, offset=7)
        assert ops.on_failure(decode, bad).action is errors.Action.DEAD_LETTER  # type: ignore[union-attr]

        retry = ops.on_failure(located("enrich", OSError("down")), bad)
        assert retry is not None and (retry.action, retry.delay_ms) == (errors.Action.RETRY, 2000)
        assert ops.waiting() == {TopicPartition(source, 0)}
        assert ops.poll_timeout(5.0) == 2.0
        consumer.pause([TopicPartition(source, 0)])
        clock.now += 2000
        ops.before_poll(consumer)
        assert ops.waiting() == set()

        assert ops.on_failure(located("other", KeyError("k")), bad).action is errors.Action.FAIL  # type: ignore[union-attr]
        assert ops.on_failure(OSError("disk full"), bad) is None  # not a record's fault
        producer.flush(30)
    finally:
        consumer.close()
        producer.close()
        admin.close()
        ops.close()
    dead = [parse(r) for r in read_all(log, dlq, 1, expect=2)]
    assert [d.failure.step for d in dead] == ["price", f"deserialize:{source}"]
    assert [d.failure.error_type for d in dead] == ["ValueError", "strom.errors.SerializationError"]
    assert all(
        (d.key, d.value, d.original_headers) == (b"k", b"\xff", (("h", b"1"),)) for d in dead
    )
    m = ops.metrics
    assert m.value("strom_dead_lettered_total", step="price", topic=dlq) == 1
    assert m.value("strom_retries_total", step="enrich") == 1
    assert m.value("strom_errors_total", step="enrich", error_type="OSError") == 1


def test_endpoint_reflects_batches_and_rebalances(log: Log) -> None:
    source = make_topic(log, "events")
    ops = Operations(unique("app"), metrics_port=0)
    admin, producer, consumer = log.admin(), log.producer(), log.consumer(unique("g"))
    try:
        ops.start(admin, producer, consumer)
        assert ops.server is not None
        url = ops.server.url

        def ready() -> int:
            try:
                with urllib.request.urlopen(url + "/ready", timeout=10) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return error.code

        assert ready() == 503  # not polled yet
        tp = TopicPartition(source, 0)
        ops.assigned([tp])
        ops.batch_done([Record(source, 0, i, None, b"v", 1) for i in range(5)], 0.01)
        assert ready() == 200
        with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        assert f'strom_records_in_total{{app="{ops.app}",step="source:{source}"}} 5.0' in text
        assert f'strom_rebalances_total{{app="{ops.app}",kind="assigned"}} 1.0' in text
        ops.revoked([tp])
        ops.stopping()
        assert ready() == 503
        with urllib.request.urlopen(url + "/health", timeout=10) as response:
            assert json.loads(response.read())["alive"] is True
    finally:
        consumer.close()
        producer.close()
        admin.close()
        ops.close()
