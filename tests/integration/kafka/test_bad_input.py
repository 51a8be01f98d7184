"""Bad input against the Kafka backend: an unreachable broker, malformed URLs, unknown
settings, unknown topics and oversize records each give a clear strom error, never a hang."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

import strom.log
from strom.errors import (
    BrokerUnavailableError,
    ConfigError,
    DeliveryError,
    RecordTooLargeError,
    TopicNotFoundError,
)
from strom.log import Log, RecordMetadata, TopicPartition, TopicSpec
from tests.conftest import unique
from tests.contract.log_support import WAIT, make_topic, read_all, send_all

pytestmark = pytest.mark.kafka


@pytest.fixture
def kafka(kafka_url: str) -> Iterator[Log]:
    log = strom.log.connect(kafka_url)
    try:
        yield log
    finally:
        log.close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- unreachable broker ----------------------------------------------------------------------


def test_unreachable_broker_every_call_names_the_address() -> None:
    address = f"127.0.0.1:{closed_port()}"
    log = strom.log.connect(f"kafka://{address}")
    admin = log.admin()
    producer = log.producer()
    tx_producer = log.producer(transactional_id=unique("tx"))
    consumer = log.consumer(unique("group"))
    tp = TopicPartition("orders", 0)
    calls: dict[str, Callable[[], object]] = {
        "admin.list_topics": admin.list_topics,
        "admin.create_topics": lambda: admin.create_topics([TopicSpec("orders")]),
        "admin.describe_topic": lambda: admin.describe_topic("orders"),
        "admin.delete_topics": lambda: admin.delete_topics(["orders"]),
        "admin.list_groups": admin.list_groups,
        "admin.group_lag": lambda: admin.group_lag("g"),
        "admin.end_offsets": lambda: admin.end_offsets([tp]),
        "producer.send": lambda: producer.send("orders", b"v"),
        "producer.partitions_for": lambda: producer.partitions_for("orders"),
        "producer.init_transactions": tx_producer.init_transactions,
        "consumer.subscribe": lambda: consumer.subscribe(["orders"]),
        "consumer.assign": lambda: consumer.assign([tp]),
        "consumer.poll": lambda: consumer.poll(timeout=1.0),
        "consumer.watermarks": lambda: consumer.watermarks(tp),
        "consumer.committed": lambda: consumer.committed([tp]),
        "consumer.commit": lambda: consumer.commit({tp: 1}),
        "consumer.offsets_for_times": lambda: consumer.offsets_for_times([tp], 0),
    }
    try:
        for name, call in calls.items():
            with pytest.raises(BrokerUnavailableError) as caught:
                call()
            assert address in str(caught.value), (name, str(caught.value))
    finally:
        consumer.close()
        producer.close(timeout=1.0)
        tx_producer.close(timeout=1.0)
        admin.close()
        log.close()


# --- malformed URLs and settings -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "kafka://",
        "kafka://localhost",
        "kafka://localhost:99999",
        "kafka://host:9092,",
        "kafak://localhost:9092",
        "localhost:9092",
    ],
)
def test_malformed_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="URL"):
        strom.log.connect(url)


def test_unknown_librdkafka_setting_is_named(kafka_url: str) -> None:
    log = strom.log.connect(kafka_url + "?no.such.setting=1")
    with pytest.raises(ConfigError, match=r"no\.such\.setting"):
        log.producer()
    with pytest.raises(ConfigError, match=r"no\.such\.setting"):
        log.consumer("g")
    with pytest.raises(ConfigError, match=r"no\.such\.setting"):
        log.admin()
    other = strom.log.connect(kafka_url)
    with pytest.raises(ConfigError, match=r"bogus\.option"):
        other.producer(options={"bogus.option": "x"})
    with pytest.raises(ConfigError, match=r"request\.required\.acks|acks"):
        other.producer(options={"acks": "banana"})


def test_settings_pass_through_to_librdkafka(kafka_url: str) -> None:
    # A valid librdkafka setting given in the URL reaches the client: a producer limited to
    # 2000-byte records refuses a 3000-byte one, naming both numbers.
    log = strom.log.connect(kafka_url + "?message.max.bytes=2000")
    topic = make_topic(log)
    producer = log.producer()
    try:
        with pytest.raises(RecordTooLargeError) as caught:
            producer.send(topic, b"x" * 3000)
        assert "3000" in str(caught.value)
        assert "2000" in str(caught.value)
    finally:
        producer.close()


# --- unknown topics --------------------------------------------------------------------------


def test_unknown_topic_on_produce_consume_describe(kafka: Log) -> None:
    missing = unique("missing")
    producer = kafka.producer()
    consumer = kafka.consumer(unique("group"))
    admin = kafka.admin()
    try:
        with pytest.raises(TopicNotFoundError, match=missing):
            producer.send(missing, b"v")
        with pytest.raises(TopicNotFoundError, match=missing):
            consumer.subscribe([missing])
        with pytest.raises(TopicNotFoundError, match=missing):
            consumer.assign([TopicPartition(missing, 0)])
        with pytest.raises(TopicNotFoundError, match=missing):
            admin.describe_topic(missing)
        with pytest.raises(TopicNotFoundError, match=missing):
            consumer.watermarks(TopicPartition(missing, 0), timeout=10.0)
    finally:
        consumer.close()
        producer.close()
        admin.close()


def test_unknown_partition_of_existing_topic(kafka: Log) -> None:
    topic = make_topic(kafka, partitions=2)
    producer = kafka.producer()
    consumer = kafka.consumer()
    try:
        with pytest.raises(TopicNotFoundError, match="partition 5"):
            producer.send(topic, b"v", partition=5)
        with pytest.raises(TopicNotFoundError, match="partition 2"):
            consumer.assign([TopicPartition(topic, 2)])
    finally:
        consumer.close()
        producer.close()


# --- oversize records ------------------------------------------------------------------------


def test_oversize_record_names_size_and_default_limit(kafka: Log) -> None:
    topic = make_topic(kafka)
    producer = kafka.producer()
    try:
        with pytest.raises(RecordTooLargeError) as caught:
            producer.send(topic, b"v" * 1_500_000, b"key")
        message = str(caught.value)
        assert "1500003" in message  # key + value
        assert "1000000" in message  # librdkafka's default message.max.bytes
        assert topic in message
    finally:
        producer.close()


def test_record_over_topic_limit_fails_delivery(kafka: Log) -> None:
    # The producer accepts it; the broker refuses it for the topic's max.message.bytes.
    topic = make_topic(kafka, config={"max.message.bytes": "5000"})
    producer = kafka.producer()
    results: list[tuple[RecordMetadata | None, Exception | None]] = []
    try:
        producer.send(topic, b"x" * 20_000, on_delivery=lambda m, e: results.append((m, e)))
        with pytest.raises(DeliveryError) as caught:
            producer.flush(WAIT)
        assert isinstance(caught.value.__cause__, RecordTooLargeError)
        assert "20000" in str(caught.value)
        assert topic in str(caught.value)
        assert len(results) == 1 and results[0][0] is None
        assert isinstance(results[0][1], RecordTooLargeError)
        # The failure is reported once; the producer goes on.
        send_all(producer, topic, [(None, b"fits")])
        assert [r.value for r in read_all(kafka, topic, 1, expect=1)] == [b"fits"]
    finally:
        producer.close()
