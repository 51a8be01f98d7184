"""FailureTracker: attempts per record, retry waits per partition, actions and their metrics."""

from __future__ import annotations

from typing import Any

import pytest

import strom.errors as errors
from strom.dead_letter import DeadLetterWriter, parse
from strom.errors import ConfigError, ProcessingError, SerializationError
from strom.failures import FailureTracker
from strom.log import Record, RecordMetadata, TopicPartition
from strom.log.protocols import DeliveryCallback
from strom.log.types import HeadersInput, normalize_headers
from strom.ops.metrics import Metrics

R0 = Record("orders", 0, 10, b"k", b"v0", 111)
R1 = Record("orders", 1, 20, b"k", b"v1", 222)


class Clock:
    def __init__(self) -> None:
        self.now = 50_000

    def __call__(self) -> int:
        return self.now


class Sent:
    """A producer that keeps what it is sent, as stored records (unit tests only)."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        timestamp: int | None = None,
        headers: HeadersInput = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        record = Record(topic, 0, len(self.records), key, value, timestamp or 0,
                        normalize_headers(headers))  # fmt: skip
        self.records.append(record)
        if on_delivery is not None:
            on_delivery(RecordMetadata(topic, 0, record.offset, record.timestamp), None)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected Producer.{name}")


def tracker(
    policy: errors.ErrorPolicy, clock: Clock, **steps: errors.ErrorPolicy
) -> tuple[FailureTracker, Metrics, Sent]:
    sent = Sent()
    metrics = Metrics("app")
    handler = errors.ErrorHandler(default=policy, steps=steps, clock=clock, rand=lambda: 0.0)
    writer = DeadLetterWriter(sent, app="app", clock=clock)  # type: ignore[arg-type]
    return FailureTracker(handler, dead_letters=writer, metrics=metrics, clock=clock), metrics, sent


def test_retry_pauses_only_the_failing_partition_until_its_delay_passes() -> None:
    clock = Clock()
    t, metrics, _ = tracker(errors.retry(3, initial=1, jitter=0), clock)
    assert t.failed(R0, "price", OSError("down")).delay_ms == 1000
    assert t.waiting() == {TopicPartition("orders", 0): 51_000}
    assert t.attempts(R0) == 1 and t.attempts(R1) == 0
    clock.now = 50_999
    assert t.due() == []
    clock.now = 51_000
    assert t.due() == [TopicPartition("orders", 0)]
    assert t.due() == []  # resumed once
    assert t.failed(R0, "price", OSError("down")).delay_ms == 2000
    assert t.attempts(R0) == 2
    t.succeeded(R0)
    assert t.attempts(R0) == 0
    assert metrics.value("strom_retries_total", step="price") == 2
    assert metrics.value("strom_errors_total", step="price", error_type="OSError") == 2


def test_exhausted_retries_dead_letter_with_attempts_and_failure_times() -> None:
    clock = Clock()
    t, metrics, sent = tracker(errors.dead_letter("dlq", retry=errors.backoff(3, jitter=0)), clock)
    first = clock.now
    for _ in range(2):
        assert t.failed(R1, "price", ValueError("bad")).action is errors.Action.RETRY
        clock.now += 500
    response = t.failed(R1, "price", ValueError("bad"))
    assert (response.action, response.topic) == (errors.Action.DEAD_LETTER, "dlq")
    (record,) = sent.records
    dead = parse(record)
    assert (dead.key, dead.value, dead.source.offset) == (R1.key, R1.value, 20)
    assert dead.failure.attempts == 3
    assert (dead.failure.first_failure_ms, dead.failure.last_failure_ms) == (first, first + 1000)
    assert t.attempts(R1) == 0
    assert metrics.value("strom_dead_lettered_total", step="price", topic="dlq") == 1
    assert metrics.value("strom_errors_total", step="price", error_type="ValueError") == 3


def test_skip_is_counted() -> None:
    t, metrics, sent = tracker(errors.skip(), Clock())
    assert t.failed(R0, "parse", KeyError("x")).action is errors.Action.SKIP
    assert metrics.value("strom_skipped_total", step="parse") == 1
    assert sent.records == [] and t.waiting() == {}


def test_deserialization_failure_goes_to_its_policy_without_retry() -> None:
    clock = Clock()
    t, _, sent = tracker(
        errors.fail(),
        clock,
        **{"deserialize:orders": errors.dead_letter("bad", retry=errors.backoff(5))},
    )
    response = t.failed(R0, "deserialize:orders", SerializationError("not JSON", topic="orders"))
    assert response.action is errors.Action.DEAD_LETTER
    assert parse(sent.records[0]).failure.error_type == "strom.errors.SerializationError"


def test_fail_gives_a_stop_error_naming_step_and_position() -> None:
    t, _, _ = tracker(errors.fail(), Clock())
    error = ValueError("no price")
    assert t.failed(R0, "price", error).action is errors.Action.FAIL
    stop = t.stop_error(R0, "price", error)
    assert isinstance(stop, ProcessingError)
    assert (stop.step, stop.topic, stop.partition, stop.offset) == ("price", "orders", 0, 10)
    assert "orders/0@10" in str(stop) and "nothing at or past offset 10" in str(stop)


def test_a_different_step_failing_restarts_the_count() -> None:
    t, _, _ = tracker(errors.retry(5, jitter=0), Clock())
    t.failed(R0, "a", OSError())
    t.failed(R0, "a", OSError())
    t.failed(R0, "b", OSError())
    assert t.attempts(R0) == 1


def test_forget_drops_revoked_partitions_state() -> None:
    t, _, _ = tracker(errors.retry(5, jitter=0), Clock())
    t.failed(R0, "a", OSError())
    t.failed(R1, "a", OSError())
    t.forget([TopicPartition("orders", 0)])
    assert list(t.waiting()) == [TopicPartition("orders", 1)]
    assert t.attempts(R0) == 0 and t.attempts(R1) == 1
    assert t.next_due_ms() is not None


def test_dead_letter_policy_without_writer_is_a_config_error() -> None:
    handler = errors.ErrorHandler(steps={"s": errors.dead_letter("dlq")})
    with pytest.raises(ConfigError, match="dlq"):
        FailureTracker(handler)
