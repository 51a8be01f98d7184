"""Interop with kcat, a Kafka client no one here wrote: what one writes, the other reads,
byte for byte (keys, values, headers), and both place a key on the same partition."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import strom.log
from strom.log import Log, Record
from strom.log.partitioner import partition_for_key
from tests.contract.log_support import make_topic, read_all, send_all

pytestmark = pytest.mark.kafka

# Key length, key, value length, value, then headers, partition, offset, timestamp.
KCAT_FORMAT = r"%K:%k%S:%s%h\t%p\t%o\t%T\n"


@pytest.fixture(scope="module")
def kcat() -> str:
    found = shutil.which("kcat") or shutil.which("kafkacat")
    if found is None:
        pytest.fail("kcat is not installed: run `make dev-deps` (Debian package kafkacat)")
    return found


@pytest.fixture
def kafka(kafka_url: str) -> Iterator[Log]:
    log = strom.log.connect(kafka_url)
    try:
        yield log
    finally:
        log.close()


def run_kcat(kcat: str, *args: str, stdin: bytes = b"") -> bytes:
    done = subprocess.run([kcat, *args], input=stdin, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def parse_kcat_format(out: bytes) -> list[dict[str, object]]:
    """Parse KCAT_FORMAT output; lengths make binary keys and values unambiguous."""
    records: list[dict[str, object]] = []
    pos = 0
    while pos < len(out):
        fields: list[bytes | None] = []
        for _ in range(2):
            colon = out.index(b":", pos)
            length = int(out[pos:colon])
            pos = colon + 1
            if length < 0:
                fields.append(None)
            else:
                fields.append(out[pos : pos + length])
                pos += length
        end = out.index(b"\n", pos)
        headers_text, partition, offset, timestamp = out[pos:end].split(b"\t")
        pos = end + 1
        headers = []
        if headers_text:
            for pair in headers_text.split(b","):
                name, _, value = pair.partition(b"=")
                headers.append((name.decode(), value))
        records.append(
            {
                "key": fields[0],
                "value": fields[1],
                "headers": tuple(headers),
                "partition": int(partition),
                "offset": int(offset),
                "timestamp": int(timestamp),
            }
        )
    return records


def position(record: dict[str, object]) -> tuple[int, int]:
    partition, offset = record["partition"], record["offset"]
    assert isinstance(partition, int) and isinstance(offset, int)
    return partition, offset


def as_kcat(record: Record) -> dict[str, object]:
    return {
        "key": record.key,
        "value": record.value,
        "headers": record.headers,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
    }


def test_kcat_produces_lines_strom_consumes(kcat: str, kafka: Log, kafka_bootstrap: str) -> None:
    topic = make_topic(kafka, "kcat-in", partitions=3)
    lines = [
        ("user-1", "plain text"),
        ("user-2", "späť ünïcødé ✓"),
        ("user-1", "second for user-1"),
        ("order-77", '{"json": [1, 2, 3]}'),
        ("k\tkey", "tab\tinside"),
    ]
    stdin = "".join(f"{k}:{v}\n" for k, v in lines).encode()
    run_kcat(
        kcat,
        "-b", kafka_bootstrap, "-t", topic, "-P", "-K:",
        "-H", "trace=abc", "-H", "tag=one", "-H", "tag=two",
        # Java's partitioner, which strom uses by default.
        "-X", "partitioner=murmur2_random",
        stdin=stdin,
    )  # fmt: skip

    records = read_all(kafka, topic, 3, expect=len(lines))

    got = sorted((r.key, r.value) for r in records)
    assert got == sorted((k.encode(), v.encode()) for k, v in lines)
    for record in records:
        assert record.headers == (("trace", b"abc"), ("tag", b"one"), ("tag", b"two"))
        assert record.key is not None
        assert record.partition == partition_for_key(record.key, 3)
    user_1 = [r.value for r in records if r.key == b"user-1"]
    assert user_1 == [b"plain text", b"second for user-1"]


def test_kcat_produces_binary_file_strom_consumes(
    kcat: str, kafka: Log, kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = make_topic(kafka, "kcat-bin")
    payload = bytes(range(256)) * 16 + b"\n\x00\xff end"
    path = tmp_path / "payload.bin"
    path.write_bytes(payload)
    # Without -l, kcat sends each file as one message, byte for byte.
    run_kcat(
        kcat, "-b", kafka_bootstrap, "-t", topic, "-P", "-k", "bin-key", "-H", "kind=blob",
        str(path),
    )  # fmt: skip

    (record,) = read_all(kafka, topic, 1, expect=1)

    assert record.key == b"bin-key"
    assert record.value == payload
    assert record.headers == (("kind", b"blob"),)


def test_strom_produces_kcat_consumes_bytes(kcat: str, kafka: Log, kafka_bootstrap: str) -> None:
    topic = make_topic(kafka, "kcat-out", partitions=2)
    producer = kafka.producer()
    stamp = 1_700_000_000_000
    try:
        producer.send(
            topic, b"\x00\x01binary\nwith newline\xff", b"k\x00\xfe", partition=0,
            timestamp=stamp, headers=[("h", b"x"), ("h", b"y"), ("other", "z")],
        )  # fmt: skip
        producer.send(topic, None, None, partition=0, timestamp=stamp + 1)
        producer.send(topic, b"", b"", partition=1, timestamp=stamp + 2)
        send_all(producer, topic, [(f"key-{i}".encode(), f"v{i}".encode()) for i in range(20)])
    finally:
        producer.close()
    ours = sorted(
        (as_kcat(r) for r in read_all(kafka, topic, 2, expect=23)),
        key=position,
    )

    out = run_kcat(kcat, "-b", kafka_bootstrap, "-t", topic, "-C", "-e", "-q", "-f", KCAT_FORMAT)
    theirs = sorted(
        parse_kcat_format(out),
        key=position,
    )

    assert theirs == ours
    first = theirs[0]
    assert first["key"] == b"k\x00\xfe"
    assert first["value"] == b"\x00\x01binary\nwith newline\xff"
    assert first["headers"] == (("h", b"x"), ("h", b"y"), ("other", b"z"))
    assert first["timestamp"] == stamp
    assert (theirs[1]["key"], theirs[1]["value"]) == (None, None)
    for record in theirs:
        key = record["key"]
        if isinstance(key, bytes) and key.startswith(b"key-"):
            assert record["partition"] == partition_for_key(key, 2)


def test_strom_produces_kcat_consumes_json(kcat: str, kafka: Log, kafka_bootstrap: str) -> None:
    topic = make_topic(kafka, "kcat-json")
    producer = kafka.producer()
    try:
        send_all(producer, topic, [(b"a", b"first")])
        producer.send(topic, "zweite ✓".encode(), b"b", headers={"content-type": "text/plain"})
        producer.flush()
    finally:
        producer.close()

    out = run_kcat(kcat, "-b", kafka_bootstrap, "-t", topic, "-C", "-e", "-q", "-J")
    docs = [json.loads(line) for line in out.decode().splitlines() if line.strip()]

    assert [(d["key"], d["payload"], d["offset"]) for d in docs] == [
        ("a", "first", 0),
        ("b", "zweite ✓", 1),
    ]
    assert "headers" not in docs[0]
    assert docs[1]["headers"] == ["content-type", "text/plain"]
