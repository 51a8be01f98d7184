"""What error policies do at the output end of a pipeline, on both logs: an output that
cannot be serialized follows the ``to`` step's policy; a retried record re-runs its whole
chain, so a branch that succeeded before produces again (at-least-once)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import strom
import strom.errors as errors
import strom.log
from strom.dead_letter import parse
from strom.errors import SerializationError
from strom.log import Log, TopicPartition
from tests.conftest import unique
from tests.contract.log_support import read_all
from tests.integration.ops.support import drive
from tests.integration.runtime.support import create, lag, read, run_until_caught_up


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def log(request: pytest.FixtureRequest) -> Iterator[Log]:
    opened = strom.log.connect(str(request.getfixturevalue(f"{request.param}_url")))
    yield opened
    opened.close()


def send(log: Log, topic: str, count: int) -> list[bytes]:
    values = [json.dumps({"n": n}).encode() for n in range(count)]
    producer = log.producer()
    try:
        for value in values:
            producer.send(topic, value, b"k")
        producer.flush(30)
    finally:
        producer.close()
    return values


def shape(value: dict[str, int]) -> dict[str, Any]:
    """n = 2 becomes a value JSON cannot encode (a set)."""
    return {"n": value["n"]} if value["n"] != 2 else {"n": {1, 2}}


def pipeline(app: strom.App, events: str, out: str, on_error: Any = None) -> None:
    source, target = app.topic(events), app.topic(out, partitions=1)
    app.stream(source).map(shape, name="shape").to(target, name="write", on_error=on_error)


def committed(log: Log, group: str) -> dict[TopicPartition, int]:
    admin = log.admin()
    try:
        return admin.group_offsets(group)
    finally:
        admin.close()


def test_unserializable_output_is_dead_lettered_under_the_to_step(log: Log) -> None:
    events, out, dlq = unique("events"), unique("out"), unique("out-dlq")
    create(log, events, 1)
    values = send(log, events, 5)
    app = strom.App(unique("app"), broker=log.url)  # the default (fail) is overridden by to()
    pipeline(app, events, out, on_error=errors.dead_letter(dlq))
    runner = app.runner(log)
    runner.start()
    try:
        drive(runner, lambda: lag(log, app) == 0)
        metrics = runner.operations.metrics
        assert metrics.value("strom_dead_lettered_total", step="write", topic=dlq) == 1
        assert metrics.value("strom_records_in_total", step="write") == 5
        assert metrics.value("strom_records_out_total", step="write") == 4
    finally:
        runner.close()
    assert [o.value["n"] for o in read(log, out)] == [0, 1, 3, 4]
    (dead,) = [parse(r) for r in read_all(log, dlq, 1, expect=1)]
    assert dead.failure.step == "write"
    assert dead.failure.error_type == "strom.errors.SerializationError"
    assert "cannot serialize the value for topic" in dead.failure.message
    assert (dead.key, dead.value) == (b"k", values[2])  # the input record, byte for byte
    assert (dead.source.topic, dead.source.offset) == (events, 2)
    assert committed(log, app.name) == {TopicPartition(events, 0): 5}


def test_unserializable_output_follows_the_app_default_policy(log: Log) -> None:
    events, out = unique("events"), unique("out")
    create(log, events, 1)
    send(log, events, 5)

    skipping = strom.App(unique("app"), broker=log.url, on_error=errors.skip())
    pipeline(skipping, events, out)
    runner = skipping.runner(log)
    runner.start()
    try:
        drive(runner, lambda: lag(log, skipping) == 0)
        assert runner.operations.metrics.value("strom_skipped_total", step="write") == 1
    finally:
        runner.close()
    assert [o.value["n"] for o in read(log, out)] == [0, 1, 3, 4]

    failing = strom.App(unique("app"), broker=log.url)  # default: fail()
    pipeline(failing, events, unique("out"))
    with pytest.raises(SerializationError) as info:
        failing.run(broker=log.url)
    assert (info.value.step, info.value.topic, info.value.offset) == ("write", events, 2)
    assert "the application stops" in str(info.value)
    assert committed(log, failing.name) == {TopicPartition(events, 0): 2}


def test_a_retried_record_runs_its_whole_chain_again(log: Log) -> None:
    events, copies, results = unique("events"), unique("copies"), unique("results")
    create(log, events, 1)
    send(log, events, 4)
    app = strom.App(unique("app"), broker=log.url)
    calls: list[int] = []

    def call(value: dict[str, int]) -> dict[str, int]:
        calls.append(value["n"])
        if value["n"] == 1 and calls.count(1) == 1:
            raise ConnectionError("service unavailable")
        return value

    stream = app.stream(app.topic(events))
    stream.to(app.topic(copies, partitions=1), name="copy")  # declared first: runs first
    stream.map(call, name="call", on_error=errors.retry(3, initial=0.01, jitter=0)).to(
        app.topic(results, partitions=1), name="result"
    )
    run_until_caught_up(app, log)
    # The copy of record 1 was written before "call" failed on it, and again on the retry.
    assert [o.value["n"] for o in read(log, copies)] == [0, 1, 1, 2, 3]
    assert [o.value["n"] for o in read(log, results)] == [0, 1, 2, 3]
    assert calls == [0, 1, 1, 2, 3]
