"""The producer's buffering: batch cutting, queue accounting, the writer thread's linger."""

from __future__ import annotations

import time
from collections.abc import Callable

from strom.log import RecordMetadata
from strom.log.local import LocalLog
from strom.log.local.batching import Item, cut_pieces, record_size
from tests.unit.log.local.conftest import create, read


def items_with_everything() -> list[Item]:
    return [
        (None, b"v" * 10, 1, (), None),
        (b"k", None, 2, (("h", b"xyz"),), None),
        (b"", b"", 3, (), None),
        (b"key", b"value", 4, (("a", b""), ("bb", b"12")), print),
        (None, None, 5, (), None),
    ]


def test_drained_bytes_are_what_send_counted() -> None:
    # send() adds record_size() to the queue; the writer must take off exactly as much, or
    # the queue limit (queue.buffering.max.kbytes) would drift shut over time.
    items = items_with_everything() * 7
    pieces, size = cut_pieces(items, 10_000, 1 << 20)
    assert size == sum(record_size(k, v, h) for k, v, _, h, _ in items)
    assert len(pieces) == 1 and pieces[0].headers is not None


def test_pieces_respect_record_and_byte_limits_in_order() -> None:
    items: list[Item] = [(None, bytes([i % 256]) * 100, i, (), None) for i in range(1000)]
    for max_records, max_bytes in [(64, 1 << 20), (10_000, 20_000), (10_000, 5000), (10_000, 150)]:
        pieces, _ = cut_pieces(items, max_records, max_bytes)
        assert [t for piece in pieces for t in piece.timestamps] == list(range(1000))
        for piece in pieces:
            assert len(piece.keys) <= max_records
            assert len(piece.keys) == 1 or sum(map(len, piece.values)) <= max_bytes  # type: ignore[arg-type]


def test_records_are_written_after_linger_without_flush(
    open_log: Callable[..., LocalLog],
) -> None:
    log = open_log()
    create(log, "t")
    producer = log.producer(options={"linger.ms": "10"})
    delivered: list[RecordMetadata | None] = []

    def on_delivery(meta: RecordMetadata | None, error: Exception | None) -> None:
        delivered.append(meta)

    sent = 0
    for round_ in range(5):  # sends keep coming while the writer is awake, with pauses
        for i in range(20):
            producer.send(
                "t", f"{round_}-{i}".encode(), on_delivery=lambda m, e: delivered.append(m)
            )
            sent += 1
        time.sleep(0.015 * round_)
    for _ in range(200):
        if len(delivered) == sent:
            break
        producer.poll(0.05)
    assert [m.offset if m else None for m in delivered] == list(range(sent))
    assert [r.value for r in read(log, "t")][-1] == b"4-19"
    producer.close()


def test_flushes_between_sends_write_every_record_once(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t")
    producer = log.producer(options={"linger.ms": "5"})
    for round_ in range(30):
        for i in range(round_ % 7):
            producer.send("t", f"{round_}-{i}".encode())
        if round_ % 3:
            producer.flush(5)
        else:
            time.sleep(0.004)  # let the writer's linger expire in the middle of some rounds
    producer.close()
    expected = [f"{r}-{i}".encode() for r in range(30) for i in range(r % 7)]
    assert [r.value for r in read(log, "t")] == expected
