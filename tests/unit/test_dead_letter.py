"""Dead-letter records: header building and parsing, replay headers, the writer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from strom.dead_letter import (
    ERROR_TRACEBACK,
    MAX_MESSAGE_BYTES,
    REPLAYED_FROM,
    DeadLetterWriter,
    Failure,
    build_headers,
    error_type_name,
    is_dead_letter,
    parse,
    replay_headers,
)
from strom.errors import ConfigError, DeliveryError, SerializationError
from strom.log import Record, RecordMetadata, TopicPartition
from strom.log.protocols import DeliveryCallback
from strom.log.types import HeadersInput, normalize_headers

ORIGINAL = Record(
    "orders", 3, 1234, b"\x00key", b"\xff\xfe not utf8", 1_700_000_000_123, (("trace", b"t-1"),)
)


def failure(**changes: Any) -> Failure:
    base: dict[str, Any] = {
        "error_type": "ValueError",
        "message": "bad value",
        "step": "price",
        "attempts": 3,
        "first_failure_ms": 100,
        "last_failure_ms": 400,
    }
    return Failure(**{**base, **changes})


def as_dlq_record(original: Record, f: Failure, offset: int = 7) -> Record:
    return Record(
        "orders-dlq", 0, offset, original.key, original.value, 999, build_headers(original, f)
    )


def test_headers_keep_originals_first_and_add_every_field() -> None:
    headers = build_headers(ORIGINAL, failure(app="shop"))
    assert headers[0] == ("trace", b"t-1")
    added = dict(headers[1:])
    assert added == {
        "strom.error.type": b"ValueError",
        "strom.error.message": b"bad value",
        "strom.error.step": b"price",
        "strom.error.attempts": b"3",
        "strom.error.first_failure_ms": b"100",
        "strom.error.last_failure_ms": b"400",
        "strom.error.app": b"shop",
        "strom.source.topic": b"orders",
        "strom.source.partition": b"3",
        "strom.source.offset": b"1234",
        "strom.source.timestamp": b"1700000000123",
    }


def test_parse_round_trips_failure_source_and_original_headers() -> None:
    f = failure(app="shop", traceback="Traceback...\nValueError: bad value\n")
    dead = parse(as_dlq_record(ORIGINAL, f))
    assert dead.failure == f
    assert dead.source == ("orders", 3, 1234, 1_700_000_000_123)
    assert dead.original_headers == ORIGINAL.headers
    assert (dead.key, dead.value) == (ORIGINAL.key, ORIGINAL.value)


def test_earlier_failure_headers_are_replaced_not_repeated() -> None:
    once = as_dlq_record(ORIGINAL, failure(step="first"))
    twice = Record(
        "orders-dlq", 0, 8, once.key, once.value, 0, build_headers(once, failure(step="second"))
    )
    names = [k for k, _ in twice.headers]
    assert names.count("strom.error.step") == 1
    assert parse(twice).failure.step == "second"
    assert parse(twice).original_headers == ORIGINAL.headers


def test_long_messages_are_cut_on_a_character_boundary() -> None:
    dead = parse(as_dlq_record(ORIGINAL, failure(message="é" * MAX_MESSAGE_BYTES)))
    assert len(dead.failure.message.encode()) <= MAX_MESSAGE_BYTES
    assert dead.failure.message.endswith("...")
    assert "\ufffd" not in dead.failure.message


def test_parse_rejects_records_without_strom_headers() -> None:
    assert not is_dead_letter(ORIGINAL)
    with pytest.raises(ConfigError, match=r"orders/3@1234.*strom.error.type"):
        parse(ORIGINAL)


def test_parse_names_a_malformed_number_header() -> None:
    record = as_dlq_record(ORIGINAL, failure())
    bad = record.with_headers((*record.headers, ("strom.error.attempts", b"three")))
    with pytest.raises(ConfigError, match=r"strom\.error\.attempts"):
        parse(bad)


def test_replay_headers_strip_strom_headers_and_name_the_dlq_position() -> None:
    dead = parse(as_dlq_record(ORIGINAL, failure(), offset=42))
    assert replay_headers(dead) == (("trace", b"t-1"), (REPLAYED_FROM, b"orders-dlq/0/42"))


def test_replayed_record_failing_again_keeps_only_the_latest_replayed_from() -> None:
    first = parse(as_dlq_record(ORIGINAL, failure(), offset=1))
    replayed = ORIGINAL.with_headers(replay_headers(first))
    second = parse(as_dlq_record(replayed, failure(), offset=2))
    assert [v for k, v in replay_headers(second) if k == REPLAYED_FROM] == [b"orders-dlq/0/2"]


def test_error_type_names_and_matching() -> None:
    assert error_type_name(ValueError()) == "ValueError"
    assert error_type_name(SerializationError("x")) == "strom.errors.SerializationError"
    f = failure(error_type="strom.errors.SerializationError")
    assert f.error_type_matches("SerializationError")
    assert f.error_type_matches("strom.errors.SerializationError")
    assert not f.error_type_matches("Error")


class RecordingProducer:
    """Just enough of a Producer to see what the writer sends (unit test, no log involved)."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_with = fail_with

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
        self.sent.append(
            {"topic": topic, "key": key, "value": value, "timestamp": timestamp,
             "headers": normalize_headers(headers)}
        )  # fmt: skip
        if on_delivery is not None:
            if self.fail_with is None:
                on_delivery(RecordMetadata(topic, 0, len(self.sent) - 1, timestamp or 0), None)
            else:
                on_delivery(None, self.fail_with)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the writer must not call Producer.{name}")


def test_writer_sends_original_bytes_with_failure_headers() -> None:
    producer = RecordingProducer()
    writer = DeadLetterWriter(producer, app="shop", clock=lambda: 5_000)  # type: ignore[arg-type]
    try:
        raise ValueError("no price")
    except ValueError as exc:
        writer.send("orders-dlq", ORIGINAL, exc, step="price", attempts=2, first_failure_ms=4_000)
    (sent,) = producer.sent
    assert (sent["topic"], sent["key"], sent["value"], sent["timestamp"]) == (
        "orders-dlq", ORIGINAL.key, ORIGINAL.value, 5_000,
    )  # fmt: skip
    record = Record("orders-dlq", 0, 0, sent["key"], sent["value"], 5_000, sent["headers"])
    dead = parse(record)
    assert dead.failure.last_failure_ms == 5_000
    assert dead.failure.first_failure_ms == 4_000
    assert dead.failure.app == "shop"
    assert "no price" in (record.header(ERROR_TRACEBACK) or b"").decode()
    assert (writer.sent, writer.delivered) == (1, 1)
    writer.check()


def test_writer_reports_a_refused_dead_letter() -> None:
    producer = RecordingProducer(fail_with=RuntimeError("topic is read-only"))
    writer = DeadLetterWriter(producer, with_traceback=False)  # type: ignore[arg-type]
    writer.send("dlq", ORIGINAL, KeyError("k"), step="s", attempts=1, first_failure_ms=0)
    with pytest.raises(DeliveryError, match="read-only"):
        writer.check()


def test_source_position_type() -> None:
    dead = parse(as_dlq_record(ORIGINAL, failure()))
    assert TopicPartition(dead.source.topic, dead.source.partition) == ORIGINAL.topic_partition
    assert isinstance(dead.source._asdict(), Mapping)
