"""The producer of the embedded log.

``send()`` validates the record, picks its partition (Kafka's: murmur2 of the key with
:func:`strom.log.partitioner.partition_for_key`, round-robin without key) and hands it to the
:class:`~strom.log.local.batching.BatchWriter`, whose thread encodes and appends batches.
``send()`` is the per-record cost of producing, so it does as little as it can: per-topic
facts are looked up once and kept (:class:`_TopicInfo`), and the create time is read with
``time.time_ns() // 1_000_000`` (~0.1 µs; ``int(time.time() * 1000)`` costs 1.5 times that).
The clock is read for every record rather than cached: a cached time would save that 0.1 µs
but lag the send by up to a whole write round (an fsync) when sends are sparse.

Transactions (see transactions.py): records sent inside a transaction are kept apart and
written by ``commit_transaction`` through an intent; ``flush()`` does not wait for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import cycle
from typing import TYPE_CHECKING, Any

from strom.errors import (
    BrokerError,
    ConfigError,
    DeliveryError,
    RecordTooLargeError,
    StromError,
    TopicNotFoundError,
    TransactionError,
)
from strom.log.local.batching import (
    BatchWriter,
    Item,
    Result,
    WriterSettings,
    encode_items,
    record_size,
    split_items,
)
from strom.log.local.config import PRODUCER_OPTIONS, client_options, int_option
from strom.log.local.partition import Partition
from strom.log.local.segment import ATTR_TRANSACTIONAL, HEADER_SIZE, RECORD_OVERHEAD, header_size_of
from strom.log.local.transactions import Intent, LocalGroupMetadata, PartitionPart, intent_id
from strom.log.partitioner import partition_for_key
from strom.log.protocols import DeliveryCallback
from strom.log.types import HeadersInput, TopicPartition, normalize_headers

if TYPE_CHECKING:
    from strom.log.local.log import LocalLog

log = logging.getLogger(__name__)

_KEY_CACHE_SIZE = 65536
_time_ns = time.time_ns
_FRAMING = RECORD_OVERHEAD + HEADER_SIZE


@dataclass(slots=True)
class _TopicInfo:
    """What ``send()`` needs to know about a topic, looked up once."""

    partitions: int
    max_bytes: int
    max_payload: int
    """Largest key + value + headers of one record (``max.message.bytes`` minus framing)."""
    log_append_time: bool
    compact: bool
    id: str
    batch_limit: int
    key_cache: dict[bytes, int]
    round_robin: Iterator[int]
    """Partitions for records without key."""
    buffers: list[list[Item] | None]
    """The writer's buffer of each partition (None until the first record goes there)."""
    direct: bool
    """Records go straight to the writer: no transaction, not a compacted topic."""


def _as_bytes(value: Any, what: str, topic: str) -> bytes:
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise ConfigError(
        f"{what} for topic {topic!r} must be bytes or None, got {type(value).__name__}: "
        "serialize it first (strom.serde)"
    )


class LocalProducer:
    """Producer of the embedded log; see the module docstring. Made by ``LocalLog.producer``."""

    def __init__(
        self,
        owner: LocalLog,
        *,
        transactional_id: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self._log = owner
        opts = client_options({**owner.options, **(options or {})}, PRODUCER_OPTIONS, "producer")
        settings = WriterSettings(
            linger=int_option(opts, "linger.ms") / 1000,
            batch_bytes=int_option(opts, "batch.size", 1),
            batch_records=int_option(opts, "batch.num.messages", 1),
            max_queued=int_option(opts, "queue.buffering.max.messages", 1),
            max_queued_bytes=int_option(opts, "queue.buffering.max.kbytes", 1) * 1024,
            max_block=int_option(opts, "max.block.ms") / 1000,
        )
        self._topics: dict[str, _TopicInfo] = {}
        self._partitions: dict[tuple[str, int], Partition] = {}
        self._writer = BatchWriter(
            settings,
            self._partition,
            self._append_time,
            self._batch_limit,
            self._forget_topic,
            owner.maintenance.schedule,
        )
        self._add = self._writer.add
        self._clock = owner.clock
        self._wall_clock = owner.clock is time.time
        self._closed = False
        # transactions
        self.transactional_id = transactional_id
        self._producer_id = -1
        self._epoch = -1
        self._sequence = 0
        self._txn: dict[tuple[str, int], list[Item]] | None = None
        self._txn_bytes = 0
        self._txn_limit = int_option(opts, "transaction.max.bytes", 1)
        self._txn_offsets: dict[TopicPartition, int] = {}
        self._txn_group: LocalGroupMetadata | None = None

    # --- metadata ----------------------------------------------------------------------------

    def _topic(self, topic: str) -> _TopicInfo:
        meta = self._log.topics.get(topic)
        cfg = meta.config
        info = _TopicInfo(
            meta.partitions,
            cfg.max_message_bytes,
            cfg.max_message_bytes - _FRAMING,
            cfg.log_append_time,
            cfg.compact,
            meta.id,
            max(1, min(cfg.max_message_bytes, cfg.segment_bytes) - HEADER_SIZE),
            {},
            cycle(range(meta.partitions)),
            [None] * meta.partitions,
            self.transactional_id is None and not cfg.compact,
        )
        self._topics[topic] = info
        return info

    def _forget_topic(self, topic: str) -> None:
        self._topics.pop(topic, None)
        for key in [k for k in self._partitions if k[0] == topic]:
            del self._partitions[key]

    def _partition(self, topic: str, number: int) -> Partition:
        p = self._partitions.get((topic, number))
        if p is None or p.closed:
            p = self._partitions[(topic, number)] = self._log.partition(topic, number)
        return p

    def _batch_limit(self, topic: str) -> int:
        """Batches stay within max.message.bytes and segment.bytes, as on Kafka."""
        info = self._topics.get(topic)
        return info.batch_limit if info is not None else 1 << 20

    def _append_time(self, topic: str) -> int | None:
        info = self._topics.get(topic)
        return int(self._clock() * 1000) if info is not None and info.log_append_time else None

    def partitions_for(self, topic: str, *, timeout: float = 30.0) -> int:
        """Number of partitions of ``topic``; raises TopicNotFoundError."""
        return self._topic(topic).partitions

    # --- sending -----------------------------------------------------------------------------

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        timestamp: int | None = None,
        headers: HeadersInput = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Queue one record (see :meth:`strom.log.protocols.Producer.send`)."""
        if self._closed:
            raise BrokerError("producer is closed: create a new one with log.producer()")
        info = self._topics.get(topic)
        if info is None:
            info = self._topic(topic)
        if type(value) is not bytes and value is not None:
            value = _as_bytes(value, "value", topic)
        if key is None:
            size = 0 if value is None else len(value)
        else:
            if type(key) is not bytes:
                key = _as_bytes(key, "key", topic)
            size = len(key) if value is None else len(key) + len(value)
        if partition is None:
            partition = next(info.round_robin) if key is None else self._key_partition(info, key)
        elif not 0 <= partition < info.partitions:
            raise ConfigError(
                f"partition {partition} does not exist in topic {topic!r} "
                f"({info.partitions} partitions: 0..{info.partitions - 1})"
            )
        if headers:
            hdrs = normalize_headers(headers)
            size += header_size_of(hdrs)
        else:
            hdrs = ()
        if size > info.max_payload:
            raise RecordTooLargeError(
                f"record of {size} bytes (key, value and headers) for topic {topic!r} is over "
                f"the limit of {info.max_bytes} bytes (topic config max.message.bytes, "
                f"including {_FRAMING} bytes of framing)"
            )
        if timestamp is None:
            timestamp = _time_ns() // 1_000_000 if self._wall_clock else int(self._clock() * 1000)
        item = (key, value, timestamp, hdrs, on_delivery)
        if info.direct:
            buffer = info.buffers[partition]
            if buffer is None:
                buffer = info.buffers[partition] = self._writer.buffer((topic, partition))
            self._add(buffer, item, size + RECORD_OVERHEAD)
        else:
            self._send_special(info, topic, partition, item, size + RECORD_OVERHEAD)

    def _key_partition(self, info: _TopicInfo, key: bytes) -> int:
        partition = info.key_cache.get(key)
        if partition is None:
            if len(info.key_cache) >= _KEY_CACHE_SIZE:
                info.key_cache.clear()
            partition = info.key_cache[key] = partition_for_key(key, info.partitions)
        return partition

    def _send_special(
        self, info: _TopicInfo, topic: str, partition: int, item: Item, size: int
    ) -> None:
        """A record of a transaction, or for a compacted topic (``size``: its bytes)."""
        key, on_delivery = item[0], item[4]
        if self.transactional_id is not None:
            if self._txn is None:
                raise TransactionError(
                    f"send to {topic!r} outside a transaction: a transactional producer sends "
                    "between begin_transaction() and commit_transaction()"
                )
            if info.compact and key is None:
                raise ConfigError(f"topic {topic!r} is compacted: records need a key")
            if self._txn_bytes + size > self._txn_limit:
                raise TransactionError(
                    f"transaction of {self.transactional_id!r} would hold "
                    f"{self._txn_bytes + size} bytes, over transaction.max.bytes="
                    f"{self._txn_limit}: the embedded log keeps an open transaction's records "
                    "in memory until it commits. This record was not added and the transaction "
                    "is still open: commit or abort it, and make transactions smaller (or raise "
                    "the option)"
                )
            self._txn_bytes += size
            self._txn.setdefault((topic, partition), []).append(item)
        elif key is None:
            error = DeliveryError(
                f"topic {topic!r} is compacted (cleanup.policy=compact): a record without key "
                "cannot be stored"
            )
            self._writer.fail(Result((on_delivery,), topic, partition, -1, (), error))
        else:
            buffer = info.buffers[partition]
            if buffer is None:
                buffer = info.buffers[partition] = self._writer.buffer((topic, partition))
            self._add(buffer, item, record_size(key, item[1], item[3]))

    # --- delivery ----------------------------------------------------------------------------

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery callbacks, waiting up to ``timeout`` for one."""
        if not self._writer.dispatch() and timeout > 0:
            self._writer.wait_results(timeout)
            self._writer.dispatch()

    def flush(self, timeout: float = 30.0) -> None:
        """Write everything queued (not records of an open transaction); raise DeliveryError
        for the first failure since the last flush, BrokerError on timeout."""
        self._writer.flush(timeout)

    # --- transactions ------------------------------------------------------------------------

    def _need_transactional(self, what: str) -> str:
        if self.transactional_id is None:
            raise TransactionError(
                f"{what}: this producer has no transactional_id "
                "(use log.producer(transactional_id=...))"
            )
        if self._epoch < 0 and what != "init_transactions":
            raise TransactionError(f"{what}: call init_transactions() first")
        return self.transactional_id

    def init_transactions(self, timeout: float = 30.0) -> None:
        """Register the transactional id, fencing older producers with the same id."""
        txid = self._need_transactional("init_transactions")
        self._producer_id, self._epoch = self._log.transactions.init(txid, timeout)
        self._sequence = 0

    def begin_transaction(self) -> None:
        """Start a transaction."""
        self._need_transactional("begin_transaction")
        if self._txn is not None:
            raise TransactionError("begin_transaction: a transaction is already open")
        self._txn = {}
        self._txn_bytes = 0
        self._txn_offsets = {}
        self._txn_group = None

    def send_offsets_to_transaction(
        self,
        offsets: Mapping[TopicPartition, int],
        group_metadata: Any,
        timeout: float = 30.0,
    ) -> None:
        """Commit ``offsets`` for the consumer's group with the transaction."""
        self._need_transactional("send_offsets_to_transaction")
        if self._txn is None:
            raise TransactionError("send_offsets_to_transaction: no transaction is open")
        if not isinstance(group_metadata, LocalGroupMetadata):
            raise TransactionError(
                "send_offsets_to_transaction needs consumer.group_metadata() of a consumer of "
                f"the same embedded log, got {type(group_metadata).__name__}"
            )
        current = self._txn_group
        if current is not None and current.group_id != group_metadata.group_id:
            raise TransactionError(
                "send_offsets_to_transaction: one transaction commits offsets of one group "
                f"({current.group_id!r}), not also {group_metadata.group_id!r}"
            )
        self._log.check_member(group_metadata, [TopicPartition(*tp) for tp in offsets])
        self._txn_group = group_metadata
        self._txn_offsets.update({TopicPartition(*tp): int(o) for tp, o in offsets.items()})

    def commit_transaction(self, timeout: float = 30.0) -> None:
        """Write the transaction's records and offsets atomically (see transactions.py)."""
        txid = self._need_transactional("commit_transaction")
        if self._txn is None:
            raise TransactionError("commit_transaction: no transaction is open")
        records, offsets, group = self._txn, self._txn_offsets, self._txn_group
        self._txn = None
        self._txn_group = None
        if not records and not offsets:
            return
        sequence = self._sequence
        self._sequence += 1
        settings = self._writer.settings
        parts: list[PartitionPart] = []
        part_pieces: list[list[list[Item]]] = []
        try:
            topic_ids = self._log.topics.ids(
                sorted({tp[0] for tp in records} | {tp.topic for tp in offsets})
            )
            for (topic, number), items in sorted(records.items()):
                if topic not in topic_ids:
                    raise TopicNotFoundError(f"topic {topic!r} does not exist (was deleted)")
                append_time = self._append_time(topic)
                limit = min(settings.batch_bytes, self._batch_limit(topic))
                pieces = split_items(items, settings.batch_records, limit)
                batches = [
                    encode_items(
                        piece,
                        log_append_time=append_time,
                        attributes=ATTR_TRANSACTIONAL,
                        producer_id=self._producer_id,
                        producer_epoch=self._epoch & 0x7FFF,
                        base_sequence=sequence & 0x7FFFFFFF,
                    )
                    for piece in pieces
                ]
                lower = self._partition(topic, number).state().next_offset
                tp = TopicPartition(topic, number)
                parts.append(PartitionPart(tp, topic_ids[topic], lower, batches))
                part_pieces.append(pieces)
            for tp in offsets:
                if tp.topic not in topic_ids:
                    raise TopicNotFoundError(f"topic {tp.topic!r} does not exist (was deleted)")
            intent = Intent(
                id=intent_id(txid, self._epoch, sequence),
                txid=txid,
                producer_id=self._producer_id,
                epoch=self._epoch,
                sequence=sequence,
                parts=parts,
                group=group.group_id if group is not None else None,
                offsets=dict(offsets),
                topic_ids=topic_ids,
            )
            guard = None
            if group is not None and offsets:
                # Checked again under the group lock as the intent is written: a member whose
                # generation is over (removed, or its partitions handed over) commits nothing.
                guard = self._log.fenced(group.group_id, group, list(offsets), timeout)
            bases = self._log.transactions.commit(intent, timeout, guard)
        except StromError as exc:
            self._fail_items([i for items in records.values() for i in items], exc)
            if isinstance(exc, TransactionError):
                raise
            raise TransactionError(f"commit of transaction {txid!r} failed: {exc}") from exc
        for part, pieces in zip(parts, part_pieces, strict=True):
            # None: committed, applied later; the offsets are not known yet (-1).
            part_bases = bases.get(part.tp, []) if bases is not None else [-1] * len(pieces)
            for piece, base in zip(pieces, part_bases, strict=False):
                callbacks = tuple(i[4] for i in piece)
                if any(callbacks):
                    stamps = tuple(i[2] for i in piece)
                    tp = part.tp
                    self._writer.deliver(
                        Result(callbacks, tp.topic, tp.partition, base, stamps, None, base < 0)
                    )
        self._writer.dispatch()

    def _fail_items(self, items: list[Item], error: Exception) -> None:
        callbacks = tuple(i[4] for i in items)
        if any(callbacks):
            self._writer.deliver(Result(callbacks, "", 0, -1, (), error))
        self._writer.dispatch()

    def abort_transaction(self, timeout: float = 30.0) -> None:
        """Drop the transaction's records and offsets; nothing of it reaches the log."""
        txid = self._need_transactional("abort_transaction")
        if self._txn is None:
            raise TransactionError("abort_transaction: no transaction is open")
        records, self._txn = self._txn, None
        self._txn_offsets = {}
        self._fail_items(
            [i for items in records.values() for i in items],
            TransactionError(f"transaction of {txid!r} was aborted: record not stored"),
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self, timeout: float = 30.0) -> None:
        """Abort an open transaction, flush, stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        if self._txn is not None:
            try:
                self.abort_transaction(timeout)
            except StromError:
                log.exception("abort of the open transaction failed on close")
        deadline = time.monotonic() + timeout
        try:
            self.flush(timeout)
        except DeliveryError as exc:
            log.error("records failed before close: %s", exc)
        finally:
            self._writer.close(max(deadline - time.monotonic(), 0.0))
            # What its rolls scheduled (retention, compaction) is done before close returns,
            # as when it ran on the writer thread.
            self._log.maintenance.wait_idle(max(deadline - time.monotonic(), 0.0))
            self._log.forget_client(self)
