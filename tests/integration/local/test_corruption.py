"""Damaged segment files: a damaged batch costs its own offsets and nothing more.

Bits are flipped in real segment files written by the log; every intact record must still be
served, and nothing but a writer holding the partition lock may change a file.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from strom.errors import CorruptRecordError
from strom.log import Record, TopicPartition, TopicSpec
from strom.log.local import LocalLog
from strom.log.local.segments import list_bases
from tests.unit.log.local.conftest import as_after_machine_crash

TP = TopicPartition("t", 0)
PER_BATCH = 4


def write_batches(path: Path, batches: int, **config: str) -> Path:
    """Topic "t": ``batches`` acknowledged batches of PER_BATCH records (fsync=batch)."""
    log = LocalLog(path, {"fsync": "batch"})
    configs = {k.replace("_", "."): v for k, v in config.items()}
    log.admin().create_topics([TopicSpec("t", 1, configs)])
    producer = log.producer()
    for b in range(batches):
        for i in range(PER_BATCH):
            n = b * PER_BATCH + i
            producer.send("t", f"value-{n}".encode(), f"k{n}".encode())
        producer.flush(10)  # one batch per flush
    producer.close()
    log.close()
    return path / "topics" / "t" / "0"


def segment(directory: Path, index: int) -> Path:
    return directory / f"{list_bases(directory)[index]:020d}.log"


def batch_starts(path: Path) -> list[int]:
    data = path.read_bytes()
    starts, pos = [], 0
    while pos < len(data):
        starts.append(pos)
        pos += struct.unpack_from("<I", data, pos + 8)[0]
    return starts


def flip(path: Path, position: int, mask: int) -> None:
    with open(path, "r+b") as f:
        f.seek(position)
        byte = f.read(1)[0]
        f.seek(position)
        f.write(bytes([byte ^ mask]))


def read_from(log: LocalLog, offset: int, limit: int = 10_000) -> list[Record]:
    """Records from ``offset`` until the end (or ``limit``); CorruptRecordError propagates."""
    consumer = log.consumer()
    try:
        consumer.assign([TP])
        consumer.seek(TP, offset)
        high = consumer.watermarks(TP)[1]
        out: list[Record] = []
        for _ in range(200):
            if (consumer.position(TP) or 0) >= high or len(out) >= limit:
                break
            out.extend(consumer.poll(max_records=min(500, limit - len(out)), timeout=0.05))
        return out
    finally:
        consumer.close()


def files_digest(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.name not in ("head", "lock")
    }


def test_flipped_length_bit_costs_one_batch_not_the_acknowledged_ones_after(
    tmp_path: Path,
) -> None:
    directory = write_batches(tmp_path / "log", 10)
    active = segment(directory, -1)
    damaged = batch_starts(active)[3]
    flip(active, damaged + 10, 0x01)  # the length field: +64 KiB, past the end of the file
    as_after_machine_crash(directory)

    log = LocalLog(tmp_path / "log", {"fsync": "batch"})
    try:
        producer = log.producer()
        producer.send("t", b"after the crash")
        producer.flush(10)  # a writer: recovery runs first
        producer.close()
        assert [r.offset for r in read_from(log, 0, limit=12)] == list(range(12))
        with pytest.raises(CorruptRecordError, match=rf"byte {damaged} .*offsets 12 to 15"):
            read_from(log, 0)
        after = read_from(log, 16)
        # The 24 acknowledged records after the damage are kept, and offsets are not reused.
        assert [r.offset for r in after] == list(range(16, 41))
        assert after[-1].value == b"after the crash"
    finally:
        log.close()


def test_skip_mode_skips_a_damaged_first_batch_and_nothing_else(tmp_path: Path) -> None:
    directory = write_batches(tmp_path / "log", 12, segment_bytes="600")
    assert len(list_bases(directory)) >= 3
    sealed = segment(directory, 1)
    first = list_bases(directory)[1]
    flip(sealed, 3, 0x10)  # the base offset of the segment's first batch: header CRC fails

    log = LocalLog(tmp_path / "log", {"fsync": "batch", "on_corruption": "skip"})
    try:
        consumer = log.consumer("g")
        consumer.subscribe(["t"])
        served: list[int] = []
        for _ in range(200):
            served += [r.offset for r in consumer.poll(max_records=500, timeout=0.05)]
            if consumer.position(TP) == 48:
                break
        consumer.commit()
        consumer.close()
        expected = [o for o in range(48) if not first <= o < first + PER_BATCH]
        assert served == expected
        assert log.admin().group_offsets("g") == {TP: 48}
    finally:
        log.close()


@pytest.mark.parametrize("where", ["header", "data"])
def test_records_before_the_damage_are_served_then_the_error_names_the_batch(
    tmp_path: Path, where: str
) -> None:
    directory = write_batches(tmp_path / "log", 10)
    active = segment(directory, -1)
    damaged = batch_starts(active)[6]
    flip(active, damaged + (30 if where == "header" else 70), 0x08)

    log = LocalLog(tmp_path / "log", {"fsync": "batch"})
    try:
        assert [r.offset for r in read_from(log, 0, limit=5)] == list(range(5))
        assert [r.offset for r in read_from(log, 0, limit=24)] == list(range(24))
        with pytest.raises(CorruptRecordError) as caught:
            read_from(log, 0)
        message = str(caught.value)
        assert f"byte {damaged} " in message and "offsets 24 to 27" in message
        assert str(active) in message
        with pytest.raises(CorruptRecordError, match="offsets 24 to 27"):
            read_from(log, 25)
        assert [r.offset for r in read_from(log, 28)] == list(range(28, 40))
    finally:
        log.close()


def test_read_only_clients_change_no_file(tmp_path: Path) -> None:
    directory = write_batches(tmp_path / "log", 5)
    active = segment(directory, -1)
    with open(active, "ab") as f:
        f.write(b"\x07" * 30)  # a torn write the machine crash left
    as_after_machine_crash(directory)
    before = files_digest(directory)

    log = LocalLog(tmp_path / "log", {"fsync": "batch"})
    try:
        admin = log.admin()
        assert admin.describe_topic("t").partitions == 1
        assert admin.end_offsets([TP]) == {TP: 20}
        assert [r.offset for r in read_from(log, 0)] == list(range(20))
        assert files_digest(directory) == before

        producer = log.producer()  # the first writer repairs
        producer.send("t", b"next")
        producer.flush(10)
        producer.close()
        assert files_digest(directory)[active.name] != before[active.name]
        assert [r.offset for r in read_from(log, 0)] == list(range(21))
    finally:
        log.close()
