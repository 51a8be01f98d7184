"""Compaction: last value per key, tombstones, triggers, crash during the swap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import strom.log.local.compaction as compaction
from strom.log import TopicPartition
from strom.log.local import LocalLog
from strom.log.local.segments import list_bases
from tests.unit.log.local.conftest import ManualClock, create, produce, read

COMPACTED = {"cleanup_policy": "compact", "segment_ms": "1000", "min_cleanable_dirty_ratio": "0"}


def rounds(keys: int, count: int) -> list[tuple[bytes | None, bytes | None]]:
    return [(f"k{k}".encode(), f"k{k}-v{r}".encode()) for r in range(count) for k in range(keys)]


def roll(log: LocalLog, clock: ManualClock, key: bytes = b"filler") -> None:
    clock.advance(2)
    produce(log, "t", [(key, b"-")])


def test_last_value_per_key_with_offsets_kept(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log(clock=clock)
    create(log, "t", **COMPACTED)
    produce(log, "t", rounds(5, 4))  # offsets 0..19, last round at 15..19
    roll(log, clock)  # seals the segment; the roll runs the compaction

    records = read(log, "t")
    assert [(r.offset, r.key, r.value) for r in records] == [
        (15 + k, f"k{k}".encode(), f"k{k}-v3".encode()) for k in range(5)
    ] + [(20, b"filler", b"-")]
    assert log.consumer().watermarks(TopicPartition("t", 0)) == (0, 21)


def test_active_segment_is_never_compacted(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t", cleanup_policy="compact")
    produce(log, "t", rounds(2, 3))
    log.compact("t")
    assert len(read(log, "t")) == 6


def test_tombstones_go_after_delete_retention(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log(clock=clock)
    create(log, "t", delete_retention_ms="10000", **COMPACTED)
    produce(log, "t", [(b"a", b"1"), (b"b", b"1"), (b"a", None)])
    roll(log, clock)
    assert [(r.key, r.value) for r in read(log, "t")] == [
        (b"b", b"1"),
        (b"a", None),
        (b"filler", b"-"),
    ]

    clock.advance(5)
    log.compact("t")
    assert (b"a", None) in [(r.key, r.value) for r in read(log, "t")]  # within the 10 s
    clock.advance(6)
    log.compact("t")
    assert [(r.key, r.value) for r in read(log, "t")] == [(b"b", b"1"), (b"filler", b"-")]


def test_dirty_ratio_and_lag_gate_the_cleaner(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log(clock=clock)
    create(
        log,
        "t",
        cleanup_policy="compact",
        segment_ms="1000",
        min_compaction_lag_ms="60000",
        min_cleanable_dirty_ratio="0.01",
    )
    produce(log, "t", rounds(3, 3))
    roll(log, clock)
    assert len(read(log, "t")) == 10  # the sealed segment is younger than the lag
    clock.advance(120)
    log.maintain(["t"])
    assert len(read(log, "t")) == 4


def test_many_segments_merge_and_stay_readable(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log({"batch.num.messages": "4"}, clock=clock)
    create(log, "t", cleanup_policy="compact", segment_bytes="600", min_cleanable_dirty_ratio="0")
    produce(log, "t", rounds(10, 10))
    directory = log.topics.partition_dir("t", 0)
    log.compact("t")
    assert len(list_bases(directory)) <= 3  # 100 records in ~25 segments, now 10 + the active
    assert list_bases(directory)[0] == 0
    survivors = {r.key: r.value for r in read(log, "t")}
    assert survivors == {f"k{k}".encode(): f"k{k}-v9".encode() for k in range(10)}


def test_a_reader_inside_a_replaced_segment_reads_on(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log({"batch.num.messages": "1"}, clock=clock)
    create(log, "t", **COMPACTED)
    produce(log, "t", rounds(4, 3))  # 12 one-record batches
    clock.advance(2)
    produce(log, "t", [(b"k0", b"new")])  # seals [0, 12) and compacts it: 8..11 survive
    log.compact("t")  # nothing new to clean, but forced: replaces the segment again
    consumer = log.consumer(options={"fetch.max.bytes": "1"})  # one batch per read
    tp = TopicPartition("t", 0)
    consumer.assign([tp])
    first = consumer.poll(max_records=1, timeout=1)
    assert [r.offset for r in first] == [8]
    produce(log, "t", [(b"k1", b"newer")])
    log.compact("t")  # replaces the segment the consumer is reading
    rest: list[int] = []
    for _ in range(50):
        rest.extend(r.offset for r in consumer.poll(timeout=0.05))
        if rest and rest[-1] == 13:
            break
    # The open file still holds the content it had: offsets go on without gap or repeat.
    assert [8, *rest] == [8, 9, 10, 11, 12, 13]
    consumer.close()


def test_crash_in_the_middle_of_the_swap_is_finished_by_the_next_writer(
    open_log: Callable[..., LocalLog], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log({"batch.num.messages": "3"}, clock=clock)
    create(log, "t", cleanup_policy="compact", segment_bytes="300", min_cleanable_dirty_ratio="0")
    produce(log, "t", rounds(4, 6))
    expected = {f"k{k}".encode(): f"k{k}-v5".encode() for k in range(4)}
    real = compaction.finish_interrupted

    def crash(directory: Path, *, sync: bool) -> None:
        cleaned = sorted(directory.glob("*.log.cleaned"))
        cleaned[0].replace(directory / cleaned[0].name.removesuffix(".cleaned"))
        raise RuntimeError("simulated crash in the middle of the swap")

    monkeypatch.setattr(compaction, "finish_interrupted", crash)
    with pytest.raises(RuntimeError):
        log.compact("t")
    monkeypatch.setattr(compaction, "finish_interrupted", real)
    log.close()

    reopened = open_log()
    records = read(reopened, "t")
    assert {r.key: r.value for r in records} == expected
    assert [r.offset for r in records] == sorted(r.offset for r in records)
    assert len(records) == len({r.offset for r in records})
    directory = reopened.topics.partition_dir("t", 0)
    assert (directory / "compaction.manifest").exists(), "a reader repairs nothing"
    produce(reopened, "t", [(b"k0", b"after")])  # a writer finishes the swap first
    assert (
        not list(directory.glob("*.cleaned")) and not (directory / "compaction.manifest").exists()
    )
    assert read(reopened, "t")[-1].value == b"after"
