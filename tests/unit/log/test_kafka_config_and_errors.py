"""The Kafka backend without a broker: settings merged over strom's defaults, invalid
settings named in a ConfigError, and librdkafka error codes mapped onto strom.errors."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

import strom.log
from strom.errors import (
    BrokerError,
    BrokerUnavailableError,
    CommitError,
    ConfigError,
    ProducerFencedError,
    RecordTooLargeError,
    TopicExistsError,
    TopicNotFoundError,
    TransactionError,
)
from strom.log.kafka import KafkaLog
from strom.log.kafka.config import (
    consumer_config,
    create_client,
    is_cooperative,
    message_max_bytes,
    producer_config,
)
from strom.log.kafka.errors import commit_error, translate


def test_producer_defaults_and_pass_through() -> None:
    cfg = producer_config(
        "k1:9092,k2:9092",
        {"security.protocol": "SASL_SSL", "linger.ms": "50", "bootstrap.servers": "ignored:1"},
        {"compression.type": "zstd"},
        transactional_id="tx-1",
    )
    assert cfg["bootstrap.servers"] == "k1:9092,k2:9092"
    assert cfg["enable.idempotence"] is True
    assert cfg["acks"] == "all"
    assert cfg["partitioner"] == "murmur2_random"
    assert cfg["linger.ms"] == "50"  # the user's setting wins over the default
    assert cfg["security.protocol"] == "SASL_SSL"
    assert cfg["compression.type"] == "zstd"
    assert cfg["transactional.id"] == "tx-1"
    assert "transactional.id" not in producer_config("k:1", {}, {})


def test_consumer_arguments_win_over_options() -> None:
    cfg = consumer_config(
        "k:9092",
        {"isolation.level": "read_uncommitted", "session.timeout.ms": "6000"},
        {"group.id": "from-options"},
        group_id="billing",
        auto_offset_reset="latest",
        isolation_level="read_committed",
    )
    assert cfg["group.id"] == "billing"
    assert cfg["isolation.level"] == "read_committed"
    assert cfg["auto.offset.reset"] == "latest"
    assert cfg["enable.auto.commit"] is False
    assert cfg["enable.auto.offset.store"] is False
    assert cfg["session.timeout.ms"] == "6000"


def test_cooperative_detection_and_message_limit() -> None:
    assert is_cooperative({"partition.assignment.strategy": "cooperative-sticky"})
    assert is_cooperative({"group.protocol": "consumer"})
    assert not is_cooperative({})
    assert message_max_bytes({}) == 1_000_000
    assert message_max_bytes({"message.max.bytes": "2000"}) == 2000
    with pytest.raises(ConfigError, match=r"message\.max\.bytes"):
        message_max_bytes({"message.max.bytes": "lots"})


def test_unknown_setting_is_a_config_error_naming_it() -> None:
    cfg = producer_config("127.0.0.1:1", {"no.such.property": "1"}, {})
    with pytest.raises(ConfigError, match=r"no\.such\.property"):
        create_client(Producer, cfg, "producer")
    log = strom.log.connect("kafka://127.0.0.1:1?no.such.property=1")
    with pytest.raises(ConfigError, match=r"no\.such\.property"):
        log.producer()


def test_connect_builds_a_kafka_log_without_network() -> None:
    log = strom.log.connect("kafka://127.0.0.1:1,127.0.0.1:2?client.id=app", {"linger.ms": 1})
    assert isinstance(log, KafkaLog)
    assert log.url == "kafka://127.0.0.1:1,127.0.0.1:2"
    assert log.options == {"client.id": "app", "linger.ms": 1}
    with pytest.raises(ConfigError, match="auto_offset_reset"):
        log.consumer("g", auto_offset_reset="newest")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="isolation_level"):
        log.consumer("g", isolation_level="dirty")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (KafkaError.UNKNOWN_TOPIC_OR_PART, TopicNotFoundError),
        (KafkaError._UNKNOWN_TOPIC, TopicNotFoundError),
        (KafkaError.TOPIC_ALREADY_EXISTS, TopicExistsError),
        (KafkaError.MSG_SIZE_TOO_LARGE, RecordTooLargeError),
        (KafkaError.INVALID_CONFIG, ConfigError),
        (KafkaError.INVALID_PARTITIONS, ConfigError),
        (KafkaError._TRANSPORT, BrokerUnavailableError),
        (KafkaError._ALL_BROKERS_DOWN, BrokerUnavailableError),
        (KafkaError._RESOLVE, BrokerUnavailableError),
        (KafkaError._FENCED, ProducerFencedError),
        (KafkaError.PRODUCER_FENCED, ProducerFencedError),
        (KafkaError._TIMED_OUT, BrokerError),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, BrokerError),
    ],
)
def test_translate_maps_codes(code: int, expected: type[Exception]) -> None:
    err = translate(KafkaException(KafkaError(code)), "an action", topic="t", bootstrap="b:1")
    assert type(err) is expected
    assert "an action" in str(err)


def test_translate_names_topic_partition_and_address() -> None:
    missing = translate(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART), "send", topic="orders")
    assert "'orders'" in str(missing)
    down = translate(KafkaError(KafkaError._TRANSPORT), "poll", bootstrap="10.0.0.1:9092")
    assert "10.0.0.1:9092" in str(down)
    other = translate(
        KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION), "poll", topic="t", partition=3
    )
    assert "topic 't', partition 3" in str(other)


def test_transactional_and_commit_flavours() -> None:
    err = translate(
        KafkaError(KafkaError.INVALID_TXN_STATE), "commit transaction", transactional=True
    )
    assert type(err) is TransactionError
    refused = commit_error(KafkaError(KafkaError.ILLEGAL_GENERATION), "commit for group 'g'")
    assert type(refused) is CommitError
    assert type(commit_error(KafkaError(KafkaError._TRANSPORT), "commit")) is BrokerUnavailableError
