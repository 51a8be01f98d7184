"""Record buffering and the producer's writer thread.

``add()`` (called by ``send()``) appends a tuple to its partition's deque: no lock (deque
appends are atomic), no encoding, no I/O. The writer thread wakes when records arrive,
lingers ``linger.ms`` so that more join them (unless ``batch.num.messages`` wait in one
partition or ``flush()`` is called), then drains every partition's deque, encodes each into
batches (a few C-level calls per batch) and appends them: one lock, one write and
(``fsync=batch``) one fsync per partition and round. While it writes, the application keeps
sending into the deques, so batches grow with the load. A ``flush()`` that finds the writer
idle writes on the caller's thread instead, saving two thread hand-offs per flush.

Delivery results are queued and handed to callbacks on the caller's thread (``poll``,
``flush``), as with Kafka.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from strom.errors import BrokerError, DeliveryError, StorageError, StromError, TopicNotFoundError
from strom.log.local.partition import Partition
from strom.log.local.segment import ATTR_LOG_APPEND_TIME, RECORD_OVERHEAD, EncodedBatch, encode
from strom.log.types import RecordMetadata

log = logging.getLogger(__name__)

Item = tuple[bytes | None, bytes | None, int, tuple[tuple[str, bytes], ...], Any]
"""A buffered record: (key, value, timestamp, headers, delivery callback)."""


@dataclass(slots=True)
class Result:
    """The outcome of a group of records, for their delivery callbacks."""

    callbacks: tuple[Any, ...]
    topic: str
    partition: int
    base_offset: int
    timestamps: tuple[int, ...]
    error: Exception | None


def encode_items(
    items: Sequence[Item],
    *,
    log_append_time: int | None,
    attributes: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> EncodedBatch:
    """One batch from buffered items."""
    keys, values, timestamps, headers, _ = zip(*items, strict=True)
    return encode_columns(
        keys,
        values,
        timestamps,
        headers,
        log_append_time=log_append_time,
        attributes=attributes,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
    )


def encode_columns(
    keys: tuple[bytes | None, ...],
    values: tuple[bytes | None, ...],
    timestamps: tuple[int, ...],
    headers: tuple[tuple[tuple[str, bytes], ...], ...],
    *,
    log_append_time: int | None,
    attributes: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> EncodedBatch:
    """One batch from the columns of buffered items."""
    if log_append_time is not None:
        timestamps = (log_append_time,) * len(keys)
        attributes |= ATTR_LOG_APPEND_TIME
    return encode(
        keys,
        values,
        timestamps,
        headers if any(headers) else None,
        attributes=attributes,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
    )


def split_items(items: list[Item], max_records: int, max_bytes: int) -> list[list[Item]]:
    """Cut a partition's records into pieces of at most ``max_records`` records and about
    ``max_bytes`` bytes (a single larger record gets a piece of its own)."""
    pieces: list[list[Item]] = []
    start = acc = 0
    for index, (key, value, _, _, _) in enumerate(items):
        size = RECORD_OVERHEAD + (len(key) if key else 0) + (len(value) if value else 0)
        if index > start and (acc + size > max_bytes or index - start >= max_records):
            pieces.append(items[start:index])
            start, acc = index, 0
        acc += size
    pieces.append(items[start:])
    return pieces


def _pieces(
    items: list[Item],
    columns: tuple[tuple[Any, ...], ...],
    size: int,
    max_records: int,
    max_bytes: int,
) -> list[tuple[tuple[Any, ...], ...]]:
    """Batches as columns: cut by slicing (no per-record Python work) unless records are
    large enough for their sizes to matter one by one."""
    count = len(items)
    if count <= max_records and size <= max_bytes:
        return [columns]
    if size // count * 64 > max_bytes:  # few, large records: cut one by one
        pieces = split_items(items, max_records, max_bytes)
        return [tuple(zip(*piece, strict=True)) for piece in pieces]
    parts = max(-(-count // max_records), -(-size // max_bytes))
    step = -(-count // parts)
    return [tuple(column[i : i + step] for column in columns) for i in range(0, count, step)]


def _payload(column: tuple[bytes | None, ...]) -> int:
    present: Iterable[bytes] = column if None not in column else filter(None, column)  # type: ignore[assignment]
    return sum(map(len, present))


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """Producer options that shape batching."""

    linger: float
    batch_bytes: int
    batch_records: int
    max_queued: int
    """Per partition: ``send()`` blocks while that many records wait to be written."""
    max_queued_bytes: int
    """All partitions: ``send()`` blocks while that many bytes wait to be written."""
    max_block: float


class BatchWriter:
    """Buffers of one producer and the thread that writes them."""

    def __init__(
        self,
        settings: WriterSettings,
        partition_of: Callable[[str, int], Partition],
        append_time_of: Callable[[str], int | None],
        batch_limit_of: Callable[[str], int],
        forget_topic: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self._partition_of = partition_of
        self._append_time_of = append_time_of
        self._batch_limit_of = batch_limit_of
        self._forget_topic = forget_topic
        self._buffers: dict[tuple[str, int], deque[Item]] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._sleeping = True
        self._sent_bytes = 0
        self._drained_bytes = 0
        self._busy = False
        self._urgent = False
        self._closing = False
        self._results: deque[Result] = deque()
        self._failures: list[Exception] = []
        self._thread: threading.Thread | None = None
        self._rolled: list[Partition] = []
        self.written: set[Partition] = set()

    def add(self, key: tuple[str, int], item: Item, size: int) -> None:
        """Buffer one record of ``size`` bytes (the hot path of ``send``; thread-safe)."""
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._new_buffer(key)
        if len(buffer) >= self.settings.batch_records:
            self._backlog(buffer)
        # Bytes sent minus bytes drained is what waits. Each counter has one writer at a time
        # (with several sending threads an increment may get lost, which only loosens the
        # bound), so the hot path needs no lock.
        self._sent_bytes += size
        if self._sent_bytes - self._drained_bytes > self.settings.max_queued_bytes:
            self._wait_for_bytes()
        buffer.append(item)
        if self._sleeping:
            self._sleeping = False  # one wake-up is enough: later sends skip Event.set()
            self._wake.set()

    def _new_buffer(self, key: tuple[str, int]) -> deque[Item]:
        with self._lock:
            buffer = self._buffers.get(key)
            if buffer is None:
                buffer = self._buffers[key] = deque()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="strom-local-producer", daemon=True
                )
                self._thread.start()
        return buffer

    def _wait_for_bytes(self) -> None:
        self._urgent = True
        self._wake.set()
        limit = self.settings.max_queued_bytes
        deadline = time.monotonic() + self.settings.max_block
        with self._cond:
            while self._sent_bytes - self._drained_bytes > limit and (
                self._busy or self._pending()
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerError(
                        f"producer queue full ({self._sent_bytes - self._drained_bytes} bytes "
                        f"waiting) for {self.settings.max_block:.0f}s: the disk is not keeping "
                        "up; raise queue.buffering.max.kbytes or max.block.ms"
                    )
                self._cond.wait(min(remaining, 0.05))

    def _backlog(self, buffer: deque[Item]) -> None:
        """A full batch waits: wake the writer; block while the queue is over its limit."""
        self._urgent = True
        self._wake.set()
        if len(buffer) < self.settings.max_queued:
            return
        deadline = time.monotonic() + self.settings.max_block
        with self._cond:
            while len(buffer) >= self.settings.max_queued:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerError(
                        f"producer queue full ({len(buffer)} records for one partition) for "
                        f"{self.settings.max_block:.0f}s: the disk is not keeping up; raise "
                        "queue.buffering.max.messages or max.block.ms"
                    )
                self._cond.wait(min(remaining, 0.05))

    def fail(self, result: Result) -> None:
        """Report a failure without writing (e.g. a record a compacted topic refuses)."""
        with self._lock:
            self._results.append(result)
            if result.error is not None:
                self._failures.append(result.error)

    def deliver(self, result: Result) -> None:
        """Queue a result for its callbacks."""
        with self._lock:
            self._results.append(result)

    def _pending(self) -> bool:
        return any(map(len, list(self._buffers.values())))

    def _run(self) -> None:
        linger = self.settings.linger
        while True:
            self._sleeping = True
            if not self._pending():
                if self._closing:
                    return
                if not self._wake.wait(0.2):
                    self._idle()
                self._wake.clear()
            self._sleeping = False
            if linger > 0 and not (self._urgent or self._closing):
                self._wake.wait(linger)  # let more records join the batch
                self._wake.clear()
            if not self._round():
                with self._cond:  # a flush() on the caller's thread is writing: wait for it
                    while self._busy:
                        self._cond.wait(0.05)
            self._maintain()

    def _round(self) -> bool:
        """Drain every buffer and write it; False when another thread is doing that now.

        Run by the writer thread, or by ``flush()`` on the caller's thread when the writer is
        idle, which saves two thread hand-offs per flush.
        """
        with self._cond:
            if self._busy:
                return False
            self._busy = True
            self._urgent = False
        results: list[Result] = []
        rolled: list[Partition] = []
        try:
            for (topic, number), buffer in list(self._buffers.items()):
                count = len(buffer)
                if count:
                    popleft = buffer.popleft
                    items = [popleft() for _ in range(count)]
                    self._write(topic, number, items, results, rolled)
        finally:
            with self._cond:
                self._busy = False
                self._results.extend(results)
                self._failures.extend(r.error for r in results if r.error is not None)
                self._rolled.extend(rolled)
                self._cond.notify_all()
        if rolled:
            self._wake.set()  # retention and compaction run on the writer thread
        return True

    def _maintain(self) -> None:
        while self._rolled:
            p = self._rolled.pop()
            try:
                p.maintain()
            except StromError:
                log.exception("maintenance of %s failed", p)

    def _idle(self) -> None:
        for p in self.written:
            try:
                p.sync_if_due()
            except StorageError:
                log.exception("fsync of %s failed", p)

    def _write(
        self,
        topic: str,
        number: int,
        items: list[Item],
        results: list[Result],
        rolled: list[Partition],
    ) -> None:
        s = self.settings
        pieces: list[tuple[tuple[Any, ...], ...]] = []
        columns = tuple(zip(*items, strict=True))
        size = _payload(columns[0]) + _payload(columns[1]) + RECORD_OVERHEAD * len(items)
        self._drained_bytes += size  # rounds never overlap (busy flag): one writer at a time
        try:
            p = self._partition_of(topic, number)
            append_time = self._append_time_of(topic)
            limit = min(s.batch_bytes, self._batch_limit_of(topic))
            pieces = _pieces(items, columns, size, s.batch_records, limit)
            batches = [
                encode_columns(k, v, t, h, log_append_time=append_time) for k, v, t, h, _ in pieces
            ]
            outcome = p.append(batches)
        except StromError as exc:
            if isinstance(exc, TopicNotFoundError):
                self._forget_topic(topic)
            results.append(Result(tuple(i[4] for i in items), topic, number, -1, (), exc))
            return
        self.written.add(p)
        if outcome.rolled:
            rolled.append(p)
        for (_, _, stamps, _, callbacks), base in zip(pieces, outcome.base_offsets, strict=False):
            if any(callbacks):
                if append_time is not None:
                    stamps = (append_time,) * len(callbacks)
                results.append(Result(callbacks, topic, number, base, stamps, None))
        if outcome.error is not None:
            failed = pieces[len(outcome.base_offsets) :]
            callbacks = tuple(c for piece in failed for c in piece[4])
            results.append(Result(callbacks, topic, number, -1, (), outcome.error))

    # --- delivery ----------------------------------------------------------------------------

    def dispatch(self) -> int:
        """Run queued delivery callbacks on this thread; how many results were served."""
        served = 0
        while True:
            with self._lock:
                if not self._results:
                    return served
                result = self._results.popleft()
            served += 1
            if result.error is not None:
                for callback in result.callbacks:
                    if callback is not None:
                        callback(None, result.error)
                continue
            topic, number, base = result.topic, result.partition, result.base_offset
            for i, (callback, stamp) in enumerate(
                zip(result.callbacks, result.timestamps, strict=True)
            ):
                if callback is not None:
                    callback(RecordMetadata(topic, number, base + i, stamp), None)

    def wait_results(self, timeout: float) -> None:
        """Wait up to ``timeout`` for a result while records are being written."""
        with self._cond:
            if not self._results and (self._busy or self._pending()):
                self._cond.wait(timeout)

    def flush(self, timeout: float) -> None:
        """Write everything buffered; raise DeliveryError for the first failure since the
        last flush, BrokerError on timeout."""
        deadline = time.monotonic() + timeout
        while self._pending() and self._round():
            pass  # the writer thread was idle: written on this thread
        with self._cond:
            while self._busy or self._pending():
                self._urgent = True
                self._wake.set()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    waiting = sum(map(len, list(self._buffers.values())))
                    raise BrokerError(
                        f"flush timed out after {timeout:.1f}s with {waiting} records queued"
                        + (" and a batch being written" if self._busy else "")
                    )
                self._cond.wait(min(remaining, 0.05))
            failures, self._failures = self._failures, []
        self.dispatch()
        if failures:
            first = failures[0]
            if isinstance(first, DeliveryError):
                raise first
            raise DeliveryError(
                f"{len(failures)} send(s) failed since the last flush; first: {first}"
            ) from first

    def close(self, timeout: float) -> None:
        """Stop the thread (after a flush) and sync what ``fsync=interval`` left pending."""
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for p in self.written:
            try:
                p.sync_if_due()
            except StorageError:
                log.exception("fsync of %s failed on close", p)

    @property
    def closing(self) -> bool:
        """True once close() began."""
        return self._closing
