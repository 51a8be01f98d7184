"""Recovery: torn tails, damaged batches, truncated segments, lost heads and indexes."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from strom.errors import CorruptRecordError
from strom.log.local import LocalLog
from strom.log.local.segment import HEADER_SIZE
from strom.log.local.segments import list_bases
from tests.unit.log.local.conftest import as_after_machine_crash, create, produce, read


def items(n: int, start: int = 0) -> list[tuple[bytes | None, bytes | None]]:
    return [(b"k", f"value-{i}".encode()) for i in range(start, start + n)]


def partition_dir(log: LocalLog, topic: str = "t", number: int = 0) -> Path:
    return log.topics.partition_dir(topic, number)


def batch_positions(segment: Path) -> list[int]:
    data = segment.read_bytes()
    positions, pos = [], 0
    while pos < len(data):
        positions.append(pos)
        (length,) = struct.unpack_from("<I", data, pos + 8)
        pos += length
    return positions


def active_segment(directory: Path) -> Path:
    return directory / f"{list_bases(directory)[-1]:020d}.log"


def three_batches(open_log: Callable[..., LocalLog]) -> tuple[LocalLog, Path]:
    log = open_log()
    create(log, "t")
    for round_ in range(3):
        produce(log, "t", items(4, round_ * 4))
    directory = partition_dir(log)
    log.close()
    return log, directory


def test_torn_tail_after_a_machine_crash_is_cut_off(open_log: Callable[..., LocalLog]) -> None:
    _, directory = three_batches(open_log)
    segment = active_segment(directory)
    whole = segment.read_bytes()
    last = batch_positions(segment)[-1]
    segment.write_bytes(whole[: last + HEADER_SIZE + 7])  # the last write only got half-way
    as_after_machine_crash(directory)

    log = open_log()
    assert [r.value for r in read(log, "t")] == [f"value-{i}".encode() for i in range(8)]
    assert os.path.getsize(segment) == last + HEADER_SIZE + 7  # a reader repairs nothing
    produce(log, "t", items(1, 100))  # a writer cuts the torn batch off first
    assert [r.value for r in read(log, "t")][-2:] == [b"value-7", b"value-100"]


def test_torn_header_is_cut_off(open_log: Callable[..., LocalLog]) -> None:
    _, directory = three_batches(open_log)
    segment = active_segment(directory)
    with open(segment, "ab") as f:
        f.write(b"\x07" * 11)  # not even a whole header
    as_after_machine_crash(directory)
    log = open_log()
    assert len(read(log, "t")) == 12


def test_a_writer_that_died_mid_head_update_leaves_the_previous_state(
    open_log: Callable[..., LocalLog],
) -> None:
    _, directory = three_batches(open_log)
    head = (directory / "head").read_bytes()
    newest = max((64, 256), key=lambda at: struct.unpack_from("<Q", head, at)[0])
    with open(directory / "head", "r+b") as f:
        f.seek(newest + 20)
        f.write(b"\xff" * 8)  # the update of the third append never completed
    log = open_log()
    assert [r.offset for r in read(log, "t")] == list(range(8))  # never acknowledged
    produce(log, "t", items(1, 50))  # the writer cuts off the bytes after the published end
    assert [r.offset for r in read(log, "t")] == list(range(9))
    assert read(log, "t")[-1].value == b"value-50"


def test_lost_head_is_rebuilt(open_log: Callable[..., LocalLog]) -> None:
    _, directory = three_batches(open_log)
    (directory / "head").unlink()
    log = open_log()
    assert log.partition("t", 0).state().next_offset == 12
    produce(log, "t", items(1))
    assert [r.offset for r in read(log, "t")][-1] == 12


def test_truncated_active_segment_is_recovered(open_log: Callable[..., LocalLog]) -> None:
    _, directory = three_batches(open_log)
    segment = active_segment(directory)
    positions = batch_positions(segment)
    with open(segment, "r+b") as f:
        f.truncate(positions[2] + 30)  # lost the end of the file, same boot, head still "valid"

    log = open_log()
    records = read(log, "t")
    assert [r.offset for r in records] == list(range(8))
    produce(log, "t", items(2, 50))
    assert [r.offset for r in read(log, "t")] == list(range(10))


def flip_bit_in_batch(segment: Path, index: int) -> int:
    position = batch_positions(segment)[index]
    with open(segment, "r+b") as f:
        f.seek(position + HEADER_SIZE + 3)
        byte = f.read(1)
        f.seek(position + HEADER_SIZE + 3)
        f.write(bytes([byte[0] ^ 0x04]))
    return position


def test_flipped_bit_raises_naming_file_and_position(open_log: Callable[..., LocalLog]) -> None:
    _, directory = three_batches(open_log)
    segment = active_segment(directory)
    position = flip_bit_in_batch(segment, 1)

    log = open_log()
    with pytest.raises(CorruptRecordError) as caught:
        read(log, "t")
    message = str(caught.value)
    assert str(segment) in message
    assert f"byte {position}" in message
    assert read(log, "t", start=8)[0].offset == 8  # the rest stays readable


def test_damage_in_the_middle_survives_recovery(open_log: Callable[..., LocalLog]) -> None:
    _, directory = three_batches(open_log)
    segment = active_segment(directory)
    size = os.path.getsize(segment)
    flip_bit_in_batch(segment, 1)
    as_after_machine_crash(directory)

    log = open_log()
    # Not mistaken for a torn tail: the batches after it are kept, and it still raises.
    assert os.path.getsize(segment) == size
    with pytest.raises(CorruptRecordError):
        read(log, "t")
    assert [r.offset for r in read(log, "t", start=8)] == [8, 9, 10, 11]


def test_skip_mode_skips_the_damaged_batch(open_log: Callable[..., LocalLog]) -> None:
    _, directory = three_batches(open_log)
    flip_bit_in_batch(active_segment(directory), 1)
    log = open_log({"on_corruption": "skip"})
    assert [r.offset for r in read(log, "t")] == [0, 1, 2, 3, 8, 9, 10, 11]


def test_missing_and_damaged_indexes(open_log: Callable[..., LocalLog]) -> None:
    log = open_log({"batch.num.messages": "5"})
    create(log, "t", segment_bytes="2000", index_interval_bytes="100")
    produce(log, "t", items(200))
    directory = partition_dir(log)
    log.close()
    bases = list_bases(directory)
    (directory / f"{bases[0]:020d}.index").unlink()
    (directory / f"{bases[1]:020d}.index").write_bytes(os.urandom(64))
    as_after_machine_crash(directory)

    log = open_log()
    for start in (0, 3, 17, bases[1] + 2, 199):
        assert read(log, "t", start=start, limit=1)[0].offset == start
    assert not (directory / f"{bases[0]:020d}.index").exists()  # readers repair nothing
    produce(log, "t", items(1))  # recovery runs when a writer first takes the partition
    assert (directory / f"{bases[0]:020d}.index").exists()
    for start in (0, 3, 17, bases[1] + 2, 200):
        assert read(log, "t", start=start, limit=1)[0].offset == start
