"""Error policies, dead letters, metrics and the endpoint wired into a running application, on
both logs: poison records, transient and permanent failures, the partition paused for a retry."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import msgspec
import pytest
from click.testing import CliRunner

import strom
import strom.errors as errors
import strom.log
from strom.cli.main import cli
from strom.dead_letter import REPLAYED_FROM, parse
from strom.errors import ProcessingError
from strom.log import Log, TopicPartition
from strom.runtime.runner import Runner
from tests.conftest import unique
from tests.contract.log_support import read_all
from tests.integration.runtime.support import create, lag, read, run_until_caught_up


class Order(msgspec.Struct):
    id: int
    qty: int


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def log(request: pytest.FixtureRequest) -> Iterator[Log]:
    opened = strom.log.connect(str(request.getfixturevalue(f"{request.param}_url")))
    yield opened
    opened.close()


def drive(runner: Runner, done: Callable[[], bool], *, timeout: float = 60.0) -> None:
    """Step ``runner`` until ``done()`` (checked every few steps), at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _ in range(5):
            runner.step(timeout=0.1)
        if done():
            runner.checkpoint()
            return
    raise AssertionError(f"not done within {timeout} s")


def committed(log: Log, group: str) -> dict[TopicPartition, int]:
    admin = log.admin()
    try:
        return admin.group_offsets(group)
    finally:
        admin.close()


def send_raw(log: Log, topic: str, items: list[tuple[bytes, bytes, int]]) -> None:
    producer = log.producer()
    try:
        for key, value, partition in items:
            producer.send(topic, value, key, partition=partition, headers={"src": key})
        producer.flush(30)
    finally:
        producer.close()


def test_poison_records_are_dead_lettered_and_replayed_after_a_fix(log: Log) -> None:
    events, out, dlq = unique("orders"), unique("priced"), unique("orders") + "-dlq"
    create(log, events, 2)

    name = unique("shop")

    def build(fixed: bool) -> strom.App:
        app = strom.App(
            name,
            broker=log.url,
            on_deserialization_error=errors.dead_letter(dlq),
        )
        source = app.topic(events, value=strom.serde.msgspec_struct(Order))
        target = app.topic(out, partitions=2)

        def price(order: Order) -> dict[str, int]:
            if order.qty == 13 and not fixed:
                raise ValueError(f"unlucky quantity in order {order.id}")
            return {"id": order.id, "total": order.qty * 10}

        app.stream(source).map(price, name="price", on_error=errors.dead_letter(dlq)).to(target)
        return app

    valid, poison = 10_000, 500
    items: list[tuple[bytes, bytes, int]] = []
    bad: dict[bytes, tuple[bytes, str]] = {}  # key -> (value, failed step)
    for i in range(valid + poison):
        key = f"o-{i}".encode()
        if i % 21 == 20 and len(bad) < poison:
            kind = len(bad) % 3
            value = [
                b'{"id": ' + str(i).encode() + b", broken",  # bad JSON
                json.dumps({"id": i, "qty": "many"}).encode(),  # wrong schema
                json.dumps({"id": i, "qty": 13}).encode(),
            ][kind]  # the function raises
            bad[key] = (value, "price" if kind == 2 else f"deserialize:{events}")
        else:
            value = json.dumps({"id": i, "qty": 1 + i % 7}).encode()
        items.append((key, value, i % 2))
    assert len(bad) == poison
    send_raw(log, events, items)

    run_until_caught_up(build(fixed=False), log, timeout=120)

    outputs = read(log, out)
    assert len(outputs) == valid
    assert len({o.value["id"] for o in outputs}) == valid
    dead = [parse(r) for r in read_all(log, dlq, 1, expect=poison)]
    assert len(dead) == poison
    by_key = {d.key: d for d in dead}
    assert set(by_key) == set(bad)
    for key, (value, step) in bad.items():
        d = by_key[key]
        assert d.value == value  # byte-identical
        assert d.original_headers == (("src", key),)
        assert d.failure.step == step
        assert d.failure.attempts == 1
        assert d.source.topic == events
        assert d.failure.app == name
    assert sum(d.failure.error_type == "ValueError" for d in dead) == poison // 3

    # After a fix, replaying the function's failures processes them.
    result = CliRunner().invoke(
        cli, ["dlq", "replay", dlq, "--filter-step", "price", "--broker", log.url]
    )
    assert result.exit_code == 0, result.output
    run_until_caught_up(build(fixed=True), log, timeout=120)
    outputs = read(log, out)
    replayed = [o for o in outputs if any(k == REPLAYED_FROM for k, _ in o.headers)]
    assert len(replayed) == poison // 3
    assert all(o.value["total"] == 130 for o in replayed)
    assert len({o.value["id"] for o in outputs}) == valid + poison // 3


def flaky(fail_times: int, on: int) -> tuple[Callable[[dict[str, int]], dict[str, int]], list[int]]:
    """A function that raises the first ``fail_times`` times it sees value ``on``."""
    calls: list[int] = []

    def fn(value: dict[str, int]) -> dict[str, int]:
        if value["n"] == on:
            calls.append(value["n"])
            if len(calls) <= fail_times:
                raise ConnectionError(f"downstream unavailable (call {len(calls)})")
        return value

    return fn, calls


def test_transient_failure_is_retried_to_completion_without_duplicates(log: Log) -> None:
    events, out = unique("events"), unique("out")
    create(log, events, 2)
    app = strom.App(unique("app"), broker=log.url)
    source, target = app.topic(events), app.topic(out, partitions=1)
    fn, calls = flaky(3, on=7)
    policy = errors.retry(5, initial=0.05, jitter=0)
    app.stream(source).map(fn, name="call", on_error=policy).to(target)
    producer = log.producer()
    for n in range(40):
        producer.send(events, json.dumps({"n": n}).encode(), partition=n % 2)
    producer.close()

    runner = app.runner(log)
    runner.start()
    try:
        drive(runner, lambda: lag(log, app) == 0)
        metrics = runner.operations.metrics
        assert metrics.value("strom_retries_total", step="call") == 3
        assert metrics.value("strom_errors_total", step="call", error_type="ConnectionError") == 3
        assert metrics.value("strom_records_in_total", step=f"source:{events}") == 40 + 3
    finally:
        runner.close()
    values = sorted(o.value["n"] for o in read(log, out))
    assert values == list(range(40))  # complete, and nothing twice
    assert len(calls) == 4


def test_retry_pauses_only_the_failing_partition(log: Log) -> None:
    events, out = unique("events"), unique("out")
    create(log, events, 2)
    app = strom.App(unique("app"), broker=log.url)
    source, target = app.topic(events), app.topic(out, partitions=1)
    fn, _ = flaky(1_000, on=4)  # keeps failing; a long wait holds its partition
    app.stream(source).map(
        fn, name="call", on_error=errors.retry(3, initial=600, max_delay=600)
    ).to(target)
    producer = log.producer()
    for n in range(20):
        producer.send(events, json.dumps({"n": n}).encode(), partition=n % 2)
    producer.close()

    runner = app.runner(log)
    runner.start()
    try:
        # Partition 1 (odd numbers) flows on while partition 0 waits at n=4.
        drive(runner, lambda: len(read(log, out)) == 10 + 2)
        assert runner.operations.waiting() == {TopicPartition(events, 0)}
    finally:
        runner.close()
    outputs = sorted(o.value["n"] for o in read(log, out))
    assert outputs == sorted([0, 2, *range(1, 20, 2)])
    # Nothing at or past the waiting record is committed; the other partition is done.
    assert committed(log, app.name) == {TopicPartition(events, 0): 2, TopicPartition(events, 1): 10}


def test_permanent_failure_ends_per_policy(log: Log) -> None:
    events, out, dlq = unique("events"), unique("out"), unique("calls-dlq")
    create(log, events, 1)

    def start(policy: errors.ErrorPolicy) -> tuple[strom.App, list[int]]:
        app = strom.App(unique("app"), broker=log.url, on_error=policy)
        fn, calls = flaky(1_000, on=2)
        app.stream(app.topic(events)).map(fn, name="call").to(app.topic(out, partitions=1))
        return app, calls

    producer = log.producer()
    for n in range(5):
        producer.send(events, json.dumps({"n": n}).encode())
    producer.close()

    backoff = errors.backoff(3, initial=0.01, jitter=0)
    app, calls = start(errors.dead_letter(dlq, retry=backoff))
    run_until_caught_up(app, log)
    assert len(calls) == 3
    (dead,) = [parse(r) for r in read_all(log, dlq, 1, expect=1)]
    assert (dead.failure.attempts, dead.failure.step, dead.source.offset) == (3, "call", 2)
    assert dead.failure.last_failure_ms >= dead.failure.first_failure_ms

    app, calls = start(errors.fail(retry=backoff))
    with pytest.raises(ProcessingError) as info:
        app.run(broker=log.url)
    assert (info.value.step, info.value.offset) == ("call", 2)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert len(calls) == 3
    assert committed(log, app.name) == {TopicPartition(events, 0): 2}


def test_skip_is_counted_and_committed_past(log: Log) -> None:
    events, out = unique("events"), unique("out")
    create(log, events, 1)
    app = strom.App(unique("app"), broker=log.url, on_error=errors.skip())
    fn, _ = flaky(1_000, on=1)
    app.stream(app.topic(events)).map(fn, name="call").to(app.topic(out, partitions=1))
    producer = log.producer()
    for n in range(3):
        producer.send(events, json.dumps({"n": n}).encode())
    producer.close()
    runner = app.runner(log)
    runner.start()
    try:
        drive(runner, lambda: lag(log, app) == 0)
        assert runner.operations.metrics.value("strom_skipped_total", step="call") == 1
    finally:
        runner.close()
    assert [o.value["n"] for o in read(log, out)] == [0, 2]
    assert committed(log, app.name) == {TopicPartition(events, 0): 3}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_metrics_endpoint_scraped_during_a_run_matches_what_happened(log: Log) -> None:
    events, out, dlq = unique("events"), unique("out"), unique("events-dlq")
    create(log, events, 2)
    app = strom.App(unique("app"), broker=log.url, metrics_port=0)
    source = app.topic(events)
    app.stream(source).map(
        lambda v: 100 // v["n"], name="divide", on_error=errors.dead_letter(dlq)
    ).to(app.topic(out, partitions=1))
    producer = log.producer()
    for n in range(30):
        producer.send(events, json.dumps({"n": n % 10}).encode(), partition=n % 2)
    producer.close()

    runner = app.runner(log)
    runner.start()
    try:
        server = runner.operations.server
        assert server is not None and server.host == "127.0.0.1"
        url = server.url
        drive(runner, lambda: lag(log, app) == 0)
        status, body = get(url + "/ready")
        assert status == 200, body
        assert sorted(json.loads(body)["assigned"]) == [f"{events}-0", f"{events}-1"]
        status, body = get(url + "/metrics")
        assert status == 200
        text = body.decode()
        prefix = f'app="{app.name}"'
        assert f'strom_records_in_total{{{prefix},step="source:{events}"}} 30.0' in text
        assert (
            f'strom_errors_total{{{prefix},error_type="ZeroDivisionError",step="divide"}} 3.0'
            in text
        )
        assert f'strom_dead_lettered_total{{{prefix},step="divide",topic="{dlq}"}} 3.0' in text
        assert f"strom_commits_total{{{prefix}}}" in text
        assert f"strom_batch_processing_seconds_count{{{prefix}}}" in text
        assert f'strom_rebalances_total{{{prefix},kind="assigned"}}' in text
        assert f"strom_assigned_partitions{{{prefix}}} 2.0" in text
    finally:
        runner.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/health", timeout=5)
