"""Damaged files and full disks: detected, reported clearly, never served as data."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from strom.errors import CommitError, CorruptRecordError, DeliveryError, StorageError
from strom.log import TopicPartition, TopicSpec
from strom.log.local import LocalLog
from strom.log.local.segments import list_bases
from tests.integration.local.support import Worker, read_partition


def written_log(path: Path, count: int = 400, **config: str) -> Path:
    """A topic "t" with ``count`` records written by another process; its partition dir."""
    log = LocalLog(path, {"fsync": "none"})
    configs = {k.replace("_", "."): v for k, v in config.items()}
    log.admin().create_topics([TopicSpec("t", 1, configs)])
    log.close()
    lines = Worker("writer", path, "t", "batch", "w", count).finish()
    assert lines[-1] == "done w"
    return path / "topics" / "t" / "0"


def batch_starts(segment: Path) -> list[int]:
    data = segment.read_bytes()
    starts, pos = [], 0
    while pos < len(data):
        starts.append(pos)
        pos += struct.unpack_from("<I", data, pos + 8)[0]
    return starts


def test_flipped_bit_in_a_sealed_segment_is_detected(tmp_path: Path) -> None:
    directory = written_log(tmp_path / "log", segment_bytes="8000")
    sealed = directory / f"{list_bases(directory)[1]:020d}.log"
    position = batch_starts(sealed)[1]
    with open(sealed, "r+b") as f:
        f.seek(position + 100)
        byte = f.read(1)[0]
        f.seek(position + 100)
        f.write(bytes([byte ^ 0x20]))

    with pytest.raises(CorruptRecordError) as caught:
        read_partition(tmp_path / "log", "t", 0)
    assert str(sealed) in str(caught.value)
    assert f"byte {position}" in str(caught.value)
    skipped = read_partition(tmp_path / "log", "t", 0, {"on_corruption": "skip"})
    assert 0 < len(skipped) < 400
    assert [r.offset for r in skipped] == sorted({r.offset for r in skipped})


def test_truncated_active_segment_is_recovered_by_the_next_process(tmp_path: Path) -> None:
    directory = written_log(tmp_path / "log", count=300)
    active = directory / f"{list_bases(directory)[-1]:020d}.log"
    starts = batch_starts(active)
    cut = starts[-2] + 17
    os.truncate(active, cut)  # the tail of the file is gone (lost writes, bad copy...)

    lines = Worker("writer", tmp_path / "log", "t", "batch", "after", 50).finish()
    assert lines[-1] == "done after"
    records = read_partition(tmp_path / "log", "t", 0)
    assert [r.offset for r in records] == list(range(len(records)))
    assert [r.value for r in records][-50:] == [f"after-{i}".encode() for i in range(50)]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root and mount); the test runs only where it can be made."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", f"strom-test-{uuid.uuid4().hex[:6]}", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({made.stderr.decode().strip()}); "
            "test_file_size_limit_gives_a_clear_error covers a full disk instead"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_gives_a_clear_error_and_no_corruption(small_tmpfs: Path) -> None:
    path = small_tmpfs / "log"
    reserve = small_tmpfs / "reserve"
    reserve.write_bytes(b"\0" * 200_000)  # freed later, to show the log carries on
    log = LocalLog(path, {"fsync": "batch"})
    log.admin().create_topics([TopicSpec("t", 1)])
    consumer = log.consumer("g")
    consumer.assign([TopicPartition("t", 0)])
    consumer.commit({TopicPartition("t", 0): 0})
    producer = log.producer(options={"linger.ms": "0", "batch.num.messages": "10"})
    acked: list[int] = []
    with pytest.raises(DeliveryError) as caught:
        for i in range(20_000):
            producer.send("t", b"y" * 500, on_delivery=lambda m, e: m and acked.append(m.offset))
            if i % 10 == 9:
                producer.flush(10)
    cause = caught.value.__cause__
    assert isinstance(cause, StorageError)
    assert "No space left on device" in str(cause) and "free disk space" in str(cause)
    with pytest.raises(CommitError) as refused:
        consumer.commit({TopicPartition("t", 0): 5})
    assert isinstance(refused.value.__cause__, StorageError)
    assert consumer.committed([TopicPartition("t", 0)]) == {TopicPartition("t", 0): 0}

    records = read_partition(path, "t", 0)
    assert [r.offset for r in records] == list(range(len(records)))
    assert set(acked) <= {r.offset for r in records}
    assert all(r.value == b"y" * 500 for r in records)

    reserve.unlink()  # space again: the same producer goes on where the log ends
    producer.send("t", b"after")
    producer.flush(10)
    producer.close()
    consumer.close()
    log.close()
    after = read_partition(path, "t", 0)
    assert [r.offset for r in after] == list(range(len(records) + 1))
    assert after[-1].value == b"after"


def test_file_size_limit_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = LocalLog(path, {"fsync": "none"})
    log.admin().create_topics([TopicSpec("t", 1)])
    log.close()
    lines = Worker("limited_writer", path, "t", 150_000).finish()
    errors = [line.split(" ", 3) for line in lines if line.startswith("error")]
    assert errors, lines[-3:]
    _, kind, cause, message = errors[0]
    assert (kind, cause) == ("DeliveryError", "StorageError")
    assert "File too large" in json.loads(message) and "ulimit" in json.loads(message)
    acked = {int(line.split()[1]) for line in lines if line.startswith("ack")}
    records = read_partition(path, "t", 0)
    assert [r.offset for r in records] == list(range(len(records)))
    assert acked <= {r.offset for r in records}
    assert os.path.getsize(path / "topics/t/0/00000000000000000000.log") <= 150_000


FIRST_WRITE_ON_FULL_DISK = """
import sys
from strom.errors import DeliveryError
from strom.log import TopicSpec
from strom.log.local import LocalLog
log = LocalLog(sys.argv[1], {"fsync": "batch"})
log.admin().create_topics([TopicSpec("t", 1)])
try:
    with open(sys.argv[2], "wb") as filler:
        while True:
            filler.write(bytes(4096))
            filler.flush()
except OSError:
    pass
producer = log.producer()
producer.send("t", b"x")
try:
    producer.flush(10)
except DeliveryError as exc:
    print(type(exc.__cause__).__name__, exc.__cause__)
"""


def test_a_partition_first_used_on_a_full_disk_fails_cleanly(small_tmpfs: Path) -> None:
    # Its memory-mapped head file is created then: a sparse file would mean SIGBUS.
    done = subprocess.run(
        [sys.executable, "-c", FIRST_WRITE_ON_FULL_DISK, small_tmpfs / "log", small_tmpfs / "fill"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("StorageError") and "No space left on device" in done.stdout
