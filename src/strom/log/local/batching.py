"""Record buffering and the producer's writer thread.

``add()`` (called by ``send()``) appends a tuple to its partition's buffer, a plain list:
no lock, no encoding, no I/O. The writer thread wakes when records arrive, lingers
``linger.ms`` so that more join them (unless ``batch.num.messages`` wait in one partition or
``flush()`` is called), then drains every partition's buffer, encodes each into batches (a
few C-level calls per batch) and appends them: one lock, one write and (``fsync=batch``) one
fsync per partition and round. While it writes, the application keeps sending into the
buffers, so batches grow with the load. A ``flush()`` that finds the writer idle writes on
the caller's thread instead, saving two thread hand-offs per flush.

Draining needs no lock either: ``list.append`` and the two slice operations that drain
(``buffer[:n]``, then ``del buffer[:n]``) are each atomic, only senders append and only the
draining thread removes, from the front, what it has copied. Records appended in between
stay behind the drained ones, in order.

Once woken, the writer stays awake while records keep coming, checking once per
``linger.ms``: sends then never wake it, and a loop of "send a batch, flush" (flush writing
on the caller's thread) costs it one wake-up per ``linger.ms`` rather than one per flush.
Every thread switch costs the sender a turn of the GIL.

Delivery results are queued and handed to callbacks on the caller's thread (``poll``,
``flush``), as with Kafka.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from strom.errors import BrokerError, DeliveryError, StorageError, StromError, TopicNotFoundError
from strom.log.local.partition import Partition
from strom.log.local.segment import (
    ATTR_LOG_APPEND_TIME,
    RECORD_OVERHEAD,
    EncodedBatch,
    encode,
    header_size_of,
    lengths,
)
from strom.log.types import Headers, RecordMetadata

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
    unknown_offsets: bool = False
    """Stored, but the offsets are not known yet (a committed transaction applied later)."""


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
        headers if any(headers) else None,
        log_append_time=log_append_time,
        attributes=attributes,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
    )


def encode_columns(
    keys: Sequence[bytes | None],
    values: Sequence[bytes | None],
    timestamps: Sequence[int],
    headers: Sequence[Headers] | None,
    *,
    log_append_time: int | None,
    attributes: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    key_lengths: list[int] | None = None,
    value_lengths: list[int] | None = None,
) -> EncodedBatch:
    """One batch from the columns of buffered items (``headers`` None when none has any)."""
    if log_append_time is not None:
        timestamps = (log_append_time,) * len(keys)
        attributes |= ATTR_LOG_APPEND_TIME
    return encode(
        keys,
        values,
        timestamps,
        headers,
        attributes=attributes,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        key_lengths=key_lengths,
        value_lengths=value_lengths,
    )


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """What one record counts against batch and queue limits: key, value and header bytes
    plus :data:`RECORD_OVERHEAD`."""
    size = RECORD_OVERHEAD + (len(key) if key else 0) + (len(value) if value else 0)
    return size + header_size_of(headers) if headers else size


def split_items(items: list[Item], max_records: int, max_bytes: int) -> list[list[Item]]:
    """Cut a partition's records into pieces of at most ``max_records`` records and about
    ``max_bytes`` bytes (a single larger record gets a piece of its own)."""
    pieces: list[list[Item]] = []
    start = acc = 0
    for index, (key, value, _, headers, _) in enumerate(items):
        size = record_size(key, value, headers)
        if index > start and (acc + size > max_bytes or index - start >= max_records):
            pieces.append(items[start:index])
            start, acc = index, 0
        acc += size
    pieces.append(items[start:])
    return pieces


class Piece(NamedTuple):
    """The records of one batch to write, as columns."""

    keys: Sequence[bytes | None]
    values: Sequence[bytes | None]
    timestamps: Sequence[int]
    headers: Sequence[Headers] | None
    callbacks: Sequence[Any]
    key_lengths: list[int] | None
    value_lengths: list[int] | None


def cut_pieces(items: list[Item], max_records: int, max_bytes: int) -> tuple[list[Piece], int]:
    """The batches to write for a partition's drained records, and the bytes they count
    against the queue (the sum of :func:`record_size`, as ``send()`` counted them).

    A few C-level passes over the columns; records are cut one by one only when a few large
    records make their sizes matter individually.
    """
    keys, values, stamps, headers, callbacks = zip(*items, strict=True)
    count = len(items)
    key_lens = lengths(keys)
    value_lens = lengths(values)
    # -1 stands for None in the lengths: add the Nones back.
    size = sum(key_lens) + sum(value_lens) + key_lens.count(-1) + value_lens.count(-1)
    size += RECORD_OVERHEAD * count
    has_headers = any(headers)
    if has_headers:
        size += sum(header_size_of(h) for h in headers)
    if count <= max_records and size <= max_bytes:
        piece = Piece(
            keys, values, stamps, headers if has_headers else None, callbacks, key_lens, value_lens
        )
        return [piece], size
    if size // count * 64 > max_bytes:  # few, large records: cut one by one
        return [_piece_of(piece) for piece in split_items(items, max_records, max_bytes)], size
    parts = max(-(-count // max_records), -(-size // max_bytes))
    step = -(-count // parts)
    return [
        Piece(
            keys[i : i + step],
            values[i : i + step],
            stamps[i : i + step],
            headers[i : i + step] if has_headers else None,
            callbacks[i : i + step],
            key_lens[i : i + step],
            value_lens[i : i + step],
        )
        for i in range(0, count, step)
    ], size


def _piece_of(items: list[Item]) -> Piece:
    keys, values, stamps, headers, callbacks = zip(*items, strict=True)
    return Piece(keys, values, stamps, headers if any(headers) else None, callbacks, None, None)


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
        rolled: Callable[[Partition], None] = lambda p: None,
    ) -> None:
        self.settings = settings
        self._on_roll = rolled
        """Hands a partition that rolled to the log's maintenance thread (never run here:
        retention and compaction must not hold up appends)."""
        self._partition_of = partition_of
        self._append_time_of = append_time_of
        self._batch_limit_of = batch_limit_of
        self._forget_topic = forget_topic
        self._buffers: dict[tuple[str, int], list[Item]] = {}
        # Copies of settings read once per record.
        self._batch_records = settings.batch_records
        self._max_queued_bytes = settings.max_queued_bytes
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._sleeping = True
        self._sent_bytes = 0
        self._drained_bytes = 0
        self._drained_at = time.monotonic()
        """When the last round drained the buffers (monotonic)."""
        self._busy = False
        self._urgent = False
        self._closing = False
        self._results: deque[Result] = deque()
        self._failures: list[Exception] = []
        self._thread: threading.Thread | None = None
        self.written: set[Partition] = set()

    def buffer(self, key: tuple[str, int]) -> list[Item]:
        """The buffer of partition ``key`` (topic, number), for :meth:`add`."""
        buffer = self._buffers.get(key)
        return buffer if buffer is not None else self._new_buffer(key)

    def add(self, buffer: list[Item], item: Item, size: int) -> None:
        """Buffer one record of ``size`` bytes (the hot path of ``send``; thread-safe)."""
        if len(buffer) >= self._batch_records:
            self._backlog(buffer)
        # Bytes sent minus bytes drained is what waits. Each counter has one writer at a time
        # (with several sending threads an increment may get lost, which only loosens the
        # bound), so the hot path needs no lock.
        sent = self._sent_bytes + size
        self._sent_bytes = sent
        if sent - self._drained_bytes > self._max_queued_bytes:
            self._wait_for_bytes()
        buffer.append(item)
        if self._sleeping:
            self._sleeping = False  # one wake-up is enough: later sends skip Event.set()
            self._wake.set()

    def _new_buffer(self, key: tuple[str, int]) -> list[Item]:
        with self._lock:
            buffer = self._buffers.get(key)
            if buffer is None:
                buffer = self._buffers[key] = []
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

    def _backlog(self, buffer: list[Item]) -> None:
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
        while True:
            self._sleeping = True
            if not self._pending():
                if self._closing:
                    return
                if not self._wake.wait(0.2):
                    self._idle()
                    continue
                self._wake.clear()
            self._sleeping = False
            self._active()

    def _active(self) -> None:
        """Write pending records once they lingered; return when a linger period went by
        with nothing sent.

        Meanwhile sends do not wake this thread (waking it costs a thread switch per send into
        an idle writer); it wakes once per ``linger.ms``, or when a full batch waits or
        flush() is waiting for it.
        """
        linger = self.settings.linger
        start = time.monotonic()  # pending records were sent after this, or just before
        while True:
            while linger > 0 and not (self._urgent or self._closing):
                remaining = start + linger - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
                self._wake.clear()
            drained = self._drained_at
            if self._pending():
                if drained > start and not (self._urgent or self._closing):
                    # flush() wrote meanwhile: what is pending came after; it may linger more
                    # (writing it now would add a write and fsync to "send a batch, flush").
                    start = drained
                    continue
                if not self._round():
                    with self._cond:  # flush() on the caller's thread is writing them
                        while self._busy:
                            self._cond.wait(0.05)
                start = self._drained_at
            elif drained > start:
                start = time.monotonic()  # flush() wrote meanwhile: sends go on, stay awake
            else:
                return

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
            self._drained_at = time.monotonic()
        results: list[Result] = []
        rolled: list[Partition] = []
        try:
            for (topic, number), buffer in list(self._buffers.items()):
                count = len(buffer)
                if count:
                    items = buffer[:count]
                    del buffer[:count]  # see the module docstring: safe without a lock
                    self._write(topic, number, items, results, rolled)
        finally:
            with self._cond:
                self._busy = False
                self._results.extend(results)
                self._failures.extend(r.error for r in results if r.error is not None)
                self._cond.notify_all()
        for p in rolled:
            self._on_roll(p)
        return True

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
        pieces, size = cut_pieces(
            items, s.batch_records, min(s.batch_bytes, self._batch_limit_of(topic))
        )
        self._drained_bytes += size  # rounds never overlap (busy flag): one writer at a time
        append_time = None
        try:
            p = self._partition_of(topic, number)
            append_time = self._append_time_of(topic)
            batches = [
                encode_columns(
                    piece.keys,
                    piece.values,
                    piece.timestamps,
                    piece.headers,
                    log_append_time=append_time,
                    key_lengths=piece.key_lengths,
                    value_lengths=piece.value_lengths,
                )
                for piece in pieces
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
        for piece, base in zip(pieces, outcome.base_offsets, strict=False):
            callbacks = piece.callbacks
            if any(callbacks):
                stamps = piece.timestamps
                if append_time is not None:
                    stamps = (append_time,) * len(callbacks)
                results.append(Result(tuple(callbacks), topic, number, base, tuple(stamps), None))
        if outcome.error is not None:
            failed = pieces[len(outcome.base_offsets) :]
            callbacks = tuple(c for piece in failed for c in piece.callbacks)
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
                    offset = -1 if result.unknown_offsets else base + i
                    callback(RecordMetadata(topic, number, offset, stamp), None)

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
