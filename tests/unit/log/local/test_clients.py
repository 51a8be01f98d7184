"""Options, producer and consumer behaviour specific to the embedded log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import strom.log
from strom.errors import (
    BrokerError,
    ConfigError,
    DeliveryError,
    RecordTooLargeError,
    TopicNotFoundError,
)
from strom.log import TopicPartition, TopicSpec
from strom.log.local import LocalLog
from strom.log.local.durability import FsyncPolicy
from strom.log.local.locks import FileLock
from tests.unit.log.local.conftest import create, produce, read


def test_url_query_sets_the_fsync_policy(tmp_path: Path) -> None:
    log = strom.log.connect(f"local://{tmp_path}?fsync=interval&fsync.interval.ms=50")
    assert isinstance(log, LocalLog)
    assert log.durability.policy is FsyncPolicy.INTERVAL and log.durability.interval_ms == 50
    log.close()
    default = LocalLog(tmp_path)
    assert default.durability.policy is FsyncPolicy.BATCH
    default.close()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"fsync": "sometimes"}, "fsync"),
        ({"fsync.interval.ms": "-3"}, "fsync.interval.ms"),
        ({"on_corruption": "ignore"}, "on_corruption"),
        ({"linger.mss": "5"}, "linger.mss"),
    ],
)
def test_bad_options_are_config_errors(tmp_path: Path, options: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LocalLog(tmp_path, options)


def test_kafka_client_settings_are_accepted(tmp_path: Path) -> None:
    log = LocalLog(tmp_path, {"client.id": "x", "security.protocol": "SSL"})
    create(log, "t")
    producer = log.producer(options={"acks": "all", "enable.idempotence": True})
    producer.send("t", b"v")
    producer.flush()
    producer.close()
    assert [r.value for r in read(log, "t")] == [b"v"]
    log.close()


def test_bad_topic_configs(open_log: Callable[..., LocalLog]) -> None:
    admin = open_log().admin()
    for config, match in [
        ({"cleanup.policy": "forever"}, "cleanup.policy"),
        ({"retention.ms": "soon"}, "retention.ms"),
        ({"min.cleanable.dirty.ratio": "2"}, "ratio"),
        ({"message.timestamp.type": "Wallclock"}, "timestamp"),
    ]:
        with pytest.raises(ConfigError, match=match):
            admin.create_topics([TopicSpec("t", 1, config)])
    with pytest.raises(ConfigError, match="topic name"):
        admin.create_topics([TopicSpec("bad/name")])
    admin.create_topics([TopicSpec("ok", 1, {"min.insync.replicas": "2"})])  # accepted, no effect
    assert admin.describe_topic("ok").config["min.insync.replicas"] == "2"


def test_record_limit_follows_max_message_bytes(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t", max_message_bytes="1000")
    producer = log.producer()
    with pytest.raises(RecordTooLargeError, match="1000"):
        producer.send("t", b"x" * 1000)
    producer.send("t", b"x" * 900)
    producer.close()


def test_compacted_topic_refuses_records_without_key(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t", cleanup_policy="compact")
    producer = log.producer()
    errors: list[Exception | None] = []
    producer.send("t", b"v", on_delivery=lambda m, e: errors.append(e))
    with pytest.raises(DeliveryError, match="compacted"):
        producer.flush(5)
    assert isinstance(errors[0], DeliveryError)
    producer.send("t", b"v", b"k")
    producer.flush(5)  # failures are reported once
    producer.close()


def test_wrong_types_and_partitions(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t", partitions=2)
    producer = log.producer()
    with pytest.raises(ConfigError, match="bytes"):
        producer.send("t", "text")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="partition 2"):
        producer.send("t", b"v", partition=2)
    producer.send("t", bytearray(b"ok"), partition=1)  # bytes-like is fine
    producer.close()
    assert read(log, "t", 1)[0].value == b"ok"


def test_sends_to_a_deleted_topic_fail_delivery(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t")
    producer = log.producer(options={"linger.ms": "200"})
    producer.send("t", b"before")
    producer.flush(5)
    log.admin().delete_topics(["t"])
    producer.send("t", b"after")  # the producer still has the topic's metadata cached
    with pytest.raises(DeliveryError, match="deleted"):
        producer.flush(5)
    with pytest.raises(TopicNotFoundError):
        producer.send("t", b"again")  # the failure dropped the cached metadata
    create(log, "t")  # re-created: a new topic, offsets start again
    produce(log, "t", [(None, b"new")])
    assert [(r.offset, r.value) for r in read(log, "t")] == [(0, b"new")]
    producer.close()


def test_committed_offsets_of_a_deleted_topic_are_gone(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t")
    consumer = log.consumer("g")
    consumer.assign([TopicPartition("t", 0)])
    consumer.commit({TopicPartition("t", 0): 0})
    log.admin().delete_topics(["t"])
    create(log, "t")
    assert consumer.committed([TopicPartition("t", 0)]) == {TopicPartition("t", 0): None}
    consumer.close()


def test_interval_policy_syncs_on_close(tmp_path: Path) -> None:
    log = LocalLog(tmp_path, {"fsync": "interval", "fsync.interval.ms": "60000"})
    create(log, "t")
    producer = log.producer()
    producer.send("t", b"v")
    producer.flush(5)
    partition = log.partition("t", 0)
    assert partition._unsynced  # acknowledged, not yet fsync-ed
    producer.close()
    assert not partition._unsynced
    log.close()


def test_closing_the_log_closes_its_clients(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t")
    producer = log.producer()
    producer.send("t", b"queued")
    log.close()  # flushes the producer
    reopened = open_log()
    assert [r.value for r in read(reopened, "t")] == [b"queued"]


def test_send_blocks_then_fails_when_the_writer_cannot_keep_up(
    open_log: Callable[..., LocalLog],
) -> None:
    log = open_log()
    create(log, "t")
    log.partition("t", 0)  # recovered and ready; now another process "holds" its lock
    holder = FileLock(log.topics.partition_dir("t", 0) / "lock")
    holder.acquire()
    producer = log.producer(
        options={"queue.buffering.max.kbytes": "4", "max.block.ms": "300", "linger.ms": "0"}
    )
    sent = 0
    with pytest.raises(BrokerError, match="queue full"):
        for _ in range(1000):
            producer.send("t", b"x" * 100)
            sent += 1
    assert 0 < sent < 1000
    holder.release()
    producer.flush(10)  # everything accepted before the error is written
    producer.close()
    assert len(read(log, "t")) == sent
