"""Kafka-compatible partitioning and the immutable record types."""

from __future__ import annotations

import pytest

from strom.errors import ConfigError
from strom.log.partitioner import murmur2, partition_for_key
from strom.log.types import Record, TopicDescription, normalize_headers


@pytest.mark.parametrize(
    ("data", "signed"),
    # Vectors from Apache Kafka's UtilsTest.testMurmur2.
    [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (bytes([ord("a"), ord("b"), ord("c")]), 479470107),
    ],
)
def test_murmur2_matches_kafka_java_client(data: bytes, signed: int) -> None:
    assert murmur2(data) == signed & 0xFFFFFFFF


def test_partition_for_key_is_stable_and_in_range() -> None:
    for n in (1, 3, 12):
        parts = {partition_for_key(f"user-{i}".encode(), n) for i in range(200)}
        assert parts <= set(range(n))
    assert partition_for_key(b"user-1", 6) == partition_for_key(b"user-1", 6)


def test_record_is_immutable_and_copies_with_changes() -> None:
    rec = Record("t", 1, 7, b"k", b"v", 1000, (("h", b"1"), ("h", b"2")))
    with pytest.raises(AttributeError):
        rec.value = b"x"  # type: ignore[misc]
    assert rec.with_value(b"w").value == b"w" and rec.value == b"v"
    assert rec.with_key(None).key is None
    assert rec.header("h") == b"2"
    assert rec.header("missing") is None
    assert rec.topic_partition == ("t", 1)


def test_record_rejects_negative_offsets() -> None:
    with pytest.raises(ConfigError, match="offset=-1"):
        Record("t", 0, -1, None, None, 0)


def test_headers_normalize_from_mapping_and_pairs() -> None:
    assert normalize_headers({"a": "x", "b": b"y"}) == (("a", b"x"), ("b", b"y"))
    assert normalize_headers([("a", b"1"), ("a", b"2")]) == (("a", b"1"), ("a", b"2"))
    assert normalize_headers(None) == ()
    with pytest.raises(ConfigError, match="must be bytes or str"):
        normalize_headers({"a": 1})  # type: ignore[dict-item]


def test_topic_description_compacted_flag() -> None:
    assert TopicDescription("t", 1, {"cleanup.policy": "compact,delete"}).compacted
    assert not TopicDescription("t", 1, {}).compacted
