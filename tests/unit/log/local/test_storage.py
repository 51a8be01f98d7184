"""Partitions on disk: append, segments and rolls, index seeks, the published end."""

from __future__ import annotations

import os
from collections.abc import Callable

from strom.log import TopicPartition
from strom.log.local import LocalLog
from strom.log.local.batching import encode_items
from strom.log.local.segment import batch_bytes, seal
from strom.log.local.segments import list_bases
from tests.unit.log.local.conftest import ManualClock, create, produce, read


def values(n: int, size: int = 100) -> list[tuple[bytes | None, bytes | None]]:
    return [(f"k{i}".encode(), f"{i:08d}".encode().ljust(size, b".")) for i in range(n)]


def test_many_segments_read_back_in_order(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t", segment_bytes="4096", index_interval_bytes="512")
    produce(log, "t", values(2000))

    p = log.partition("t", 0)
    assert len(list_bases(p.dir)) > 20
    records = read(log, "t")
    assert [r.offset for r in records] == list(range(2000))
    assert [r.value[:8] for r in records if r.value] == [f"{i:08d}".encode() for i in range(2000)]
    assert all(os.path.exists(p.dir / f"{base:020d}.index") for base in list_bases(p.dir))


def test_seek_to_every_offset_uses_the_index(open_log: Callable[..., LocalLog]) -> None:
    log = open_log({"batch.num.messages": "7"})
    create(log, "t", segment_bytes="3000", index_interval_bytes="256")
    produce(log, "t", values(300, size=20))
    consumer = log.consumer()
    tp = TopicPartition("t", 0)
    consumer.assign([tp])
    for offset in [0, 1, 6, 7, 8, 99, 150, 298, 299, 137, 3]:
        consumer.seek(tp, offset)
        first = consumer.poll(max_records=1, timeout=1)
        assert [r.offset for r in first] == [offset]
    consumer.close()


def test_roll_by_age_with_an_injected_clock(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log(clock=clock)
    create(log, "t", segment_ms="1000")
    produce(log, "t", values(3))
    clock.advance(0.5)
    produce(log, "t", values(3))
    p = log.partition("t", 0)
    assert list_bases(p.dir) == [0]
    clock.advance(1.0)
    produce(log, "t", values(3))
    assert list_bases(p.dir) == [0, 6]
    assert [r.offset for r in read(log, "t")] == list(range(9))


def test_roll_by_size_keeps_each_segment_under_the_limit(open_log: Callable[..., LocalLog]) -> None:
    log = open_log({"batch.num.messages": "10"})
    create(log, "t", segment_bytes="5000")
    produce(log, "t", values(500))
    p = log.partition("t", 0)
    bases = list_bases(p.dir)
    sizes = [os.path.getsize(p.dir / f"{b:020d}.log") for b in bases]
    assert max(sizes) <= 5000
    assert bases == sorted(bases) and bases[0] == 0


def test_readers_stop_at_the_published_end(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t")
    produce(log, "t", values(5))
    p = log.partition("t", 0)
    st = p.state()
    # A complete batch written after the published end (its writer died before publishing).
    batch = encode_items([(b"k", b"ghost", 1, (), None)], log_append_time=None)
    seal(batch.header, st.next_offset)
    with open(p.dir / f"{st.active_base:020d}.log", "ab") as f:
        f.write(batch_bytes(batch))
    assert [r.value for r in read(log, "t")][-1] != b"ghost"
    assert len(read(log, "t")) == 5
    # The next writer cuts it off and continues the offsets.
    produce(log, "t", [(b"k", b"real")])
    records = read(log, "t")
    assert [r.offset for r in records] == list(range(6))
    assert records[-1].value == b"real"


def test_a_second_log_instance_sees_appends_of_the_first(open_log: Callable[..., LocalLog]) -> None:
    first = open_log()
    create(first, "t", partitions=2)
    second = open_log()
    produce(first, "t", values(10), partition=1)
    produce(second, "t", values(10), partition=1)
    assert [r.offset for r in read(first, "t", 1)] == list(range(20))
    assert first.partition("t", 1).state().next_offset == 20


def test_headers_survive_disk(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t")
    producer = log.producer()
    producer.send("t", b"v", b"k", headers={"a": "1", "b": b"\x00"})
    producer.close()
    log.close()
    reopened = open_log()
    assert read(reopened, "t")[0].headers == (("a", b"1"), ("b", b"\x00"))


def test_log_append_time_replaces_timestamps(
    open_log: Callable[..., LocalLog], clock: ManualClock
) -> None:
    log = open_log(clock=clock)
    create(log, "t", message_timestamp_type="LogAppendTime")
    produce(log, "t", [(b"k", b"v")], timestamp=5)
    assert read(log, "t")[0].timestamp == clock.ms
