"""Transactions of the embedded log: atomic appends to several partitions plus offsets.

Design (an intent log, not Kafka's control markers):

1. While a transaction is open, the producer keeps its records in memory; nothing reaches a
   partition, so no reader can see pending records.
2. ``commit_transaction`` encodes the records into batches tagged with the producer id, epoch
   and transaction sequence, takes the transactional id's lock, checks the epoch (a newer
   ``init_transactions`` fences older producers: ProducerFencedError), and writes one *intent*
   file holding every batch, the consumer offsets and, per partition, its end offset at that
   moment. The intent is fsync-ed: this is the commit point.
3. The batches are appended to their partitions (each partition's part in one append, so it
   is published all at once), the offsets are committed to the group, and the intent file is
   deleted.
4. ``abort_transaction`` drops the records from memory: aborted records never reach a
   partition.

A crash between 2 and 3 leaves the intent file. Recovery (on opening the log, in
``init_transactions`` for that id, before a consumer reads committed offsets, and
periodically from consumers) completes it under the same lock, idempotently: a partition
whose log already holds a batch with the intent's (producer id, epoch, sequence) after the
recorded end offset is skipped, and offsets remember which intents they applied.

So read_committed and read_uncommitted readers see the same thing on this log: only committed
records. Readers may see one partition's part of a committed transaction shortly before
another's, as on Kafka.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastcrc.crc32 import iscsi as crc32c  # CRC-32C (Castagnoli)

from strom.errors import ProducerFencedError, StorageError, StromError, TransactionError
from strom.log.local.durability import Durability, atomic_write, fsync_dir, storage_error, write_all
from strom.log.local.locks import FileLock
from strom.log.local.segment import HEADER_SIZE, EncodedBatch, parse_header
from strom.log.types import TopicPartition

log = logging.getLogger(__name__)

_INTENT_HEAD = struct.Struct("<4sII")
_INTENT_MAGIC = b"STXI"


@dataclass(frozen=True, slots=True)
class LocalGroupMetadata:
    """What ``Consumer.group_metadata()`` returns on the embedded log."""

    group_id: str
    member_id: str | None
    generation: int


@dataclass(slots=True)
class PartitionPart:
    """One partition's share of a transaction."""

    tp: TopicPartition
    topic_id: str
    lower: int
    """The partition's end offset when the intent was written."""
    batches: list[EncodedBatch]


@dataclass(slots=True)
class Intent:
    """A committed transaction not yet fully applied."""

    id: str
    txid: str
    producer_id: int
    epoch: int
    sequence: int
    parts: list[PartitionPart]
    group: str | None
    offsets: dict[TopicPartition, int]
    topic_ids: dict[str, str]

    def encode(self) -> bytes:
        """File content: header, JSON metadata, batch bytes, all under one CRC."""
        meta = {
            "id": self.id,
            "txid": self.txid,
            "producer_id": self.producer_id,
            "epoch": self.epoch,
            "sequence": self.sequence,
            "parts": [
                {
                    "topic": part.tp.topic,
                    "partition": part.tp.partition,
                    "topic_id": part.topic_id,
                    "lower": part.lower,
                    "lengths": [b.size for b in part.batches],
                }
                for part in self.parts
            ],
            "group": self.group,
            "offsets": [[tp.topic, tp.partition, o] for tp, o in self.offsets.items()],
            "topic_ids": self.topic_ids,
        }
        raw_meta = json.dumps(meta).encode()
        payload = b"".join(bytes(b.header) + b.body for part in self.parts for b in part.batches)
        body = raw_meta + payload
        return _INTENT_HEAD.pack(_INTENT_MAGIC, len(raw_meta), crc32c(body)) + body

    @classmethod
    def decode(cls, data: bytes) -> Intent:
        """Parse an intent file; ValueError if it is incomplete or damaged."""
        if len(data) < _INTENT_HEAD.size:
            raise ValueError("intent file is truncated")
        magic, meta_len, crc = _INTENT_HEAD.unpack_from(data, 0)
        body = data[_INTENT_HEAD.size :]
        if magic != _INTENT_MAGIC or crc32c(body) != crc:
            raise ValueError("intent file fails its checksum")
        meta: dict[str, Any] = json.loads(body[:meta_len])
        pos = meta_len
        parts = []
        for part in meta["parts"]:
            batches = []
            for length in part["lengths"]:
                raw = body[pos : pos + length]
                pos += length
                header = parse_header(raw, 0)
                batches.append(
                    EncodedBatch(
                        bytearray(raw[:HEADER_SIZE]),
                        raw[HEADER_SIZE:],
                        header.record_count,
                        header.max_timestamp,
                    )
                )
            parts.append(
                PartitionPart(
                    TopicPartition(part["topic"], part["partition"]),
                    part["topic_id"],
                    part["lower"],
                    batches,
                )
            )
        return cls(
            id=meta["id"],
            txid=meta["txid"],
            producer_id=meta["producer_id"],
            epoch=meta["epoch"],
            sequence=meta["sequence"],
            parts=parts,
            group=meta["group"],
            offsets={TopicPartition(t, p): o for t, p, o in meta["offsets"]},
            topic_ids=meta["topic_ids"],
        )


def txid_file_name(txid: str) -> str:
    """A file-system-safe name for a transactional id."""
    name = quote(txid, safe="-_").replace(".", "%2E")
    if len(name) > 160:
        name = name[:100] + "~" + hashlib.sha256(txid.encode()).hexdigest()[:32]
    return name


def producer_id_of(txid: str) -> int:
    """A stable 63-bit producer id for a transactional id."""
    return int.from_bytes(hashlib.sha256(txid.encode()).digest()[:8], "little") >> 1


class TransactionCoordinator:
    """Transactional ids, epochs, intents and their recovery, in ``transactions/``."""

    def __init__(
        self,
        root: Path,
        durability: Durability,
        apply_part: Callable[[PartitionPart, Intent], list[int]],
        apply_offsets: Callable[[Intent], None],
    ) -> None:
        self.dir = root / "transactions"
        self.ids = self.dir / "ids"
        self.pending = self.dir / "pending"
        self.durability = durability
        self._apply_part = apply_part
        self._apply_offsets = apply_offsets
        self._locks: dict[str, FileLock] = {}
        for path in (self.ids, self.pending):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error("create directory", path, exc) from exc

    def lock(self, txid: str) -> FileLock:
        """The lock of one transactional id (held while committing or recovering it)."""
        name = txid_file_name(txid)
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = FileLock(self.ids / f"{name}.lock")
        return lock

    def _epoch_path(self, txid: str) -> Path:
        return self.ids / f"{txid_file_name(txid)}.json"

    def current_epoch(self, txid: str) -> int:
        """The epoch registered for ``txid`` (-1 when never initialized)."""
        try:
            return int(json.loads(self._epoch_path(txid).read_bytes())["epoch"])
        except FileNotFoundError:
            return -1
        except (OSError, ValueError, KeyError) as exc:
            raise StorageError(
                f"transaction state {self._epoch_path(txid)} is unreadable: {exc}"
            ) from exc

    def init(self, txid: str, timeout: float) -> tuple[int, int]:
        """Register ``txid``: finish its pending intents, bump and return (producer id, epoch)."""
        lock = self.lock(txid)
        try:
            lock.acquire(timeout)
        except StorageError as exc:
            raise TransactionError(
                f"init_transactions for {txid!r}: another producer is committing: {exc}"
            ) from exc
        try:
            self._recover_locked(txid)
            epoch = self.current_epoch(txid) + 1
            body = json.dumps({"txid": txid, "epoch": epoch}).encode()
            atomic_write(self._epoch_path(txid), body, sync=self.durability.sync_metadata)
            return producer_id_of(txid), epoch
        finally:
            lock.release()

    def commit(
        self,
        intent: Intent,
        timeout: float,
        guard: AbstractContextManager[None] | None = None,
    ) -> dict[TopicPartition, list[int]] | None:
        """Write the intent (the commit point), apply it, and mark it done; returns the base
        offsets the batches got, per partition, or None when the transaction is committed
        but applying it failed (it is completed later, see the module docstring).

        ``guard`` is held while the intent is written: it checks what must still hold at the
        commit point (the consumer group member's generation) and raises if it does not.

        Raises:
            ProducerFencedError: a newer producer has the transactional id, or (its subclass
                GroupFencedError) ``guard`` refused: nothing was written.
            TransactionError: the intent could not be written, or an earlier transaction of
                this id could not be applied: nothing of this one was written.
        """
        lock = self.lock(intent.txid)
        try:
            lock.acquire(timeout)
        except StorageError as exc:
            raise TransactionError(f"commit of {intent.txid!r} timed out: {exc}") from exc
        try:
            if self.current_epoch(intent.txid) != intent.epoch:
                raise ProducerFencedError(
                    f"transactional id {intent.txid!r} was initialized by a newer producer "
                    f"(epoch {self.current_epoch(intent.txid)} > {intent.epoch}); this producer "
                    "must stop: its transaction was aborted"
                )
            try:
                # Earlier committed transactions of this id go first: records keep their
                # order and offsets never move back.
                self._recover_locked(intent.txid)
            except (StromError, OSError) as exc:
                raise TransactionError(
                    f"commit of {intent.txid!r} refused: an earlier committed transaction of "
                    f"this id cannot be applied yet ({exc}); nothing of this one was written, "
                    "retry it"
                ) from exc
            path = self.pending / f"{intent.id}.intent"
            with guard if guard is not None else contextlib.nullcontext():
                self._write_intent(path, intent.encode())
            # The commit point is passed: from here on the transaction has happened, whatever
            # fails. Reporting a failure now would invite a retry that writes it twice.
            try:
                return self._apply(path, intent)
            except (StromError, OSError) as exc:
                log.error(
                    "transaction %s is committed, but applying it failed: %s; it stays pending "
                    "and is completed (once) by the next commit or init_transactions of %r, a "
                    "consumer reading committed offsets, or the next process that opens the log",
                    intent.id,
                    exc,
                    intent.txid,
                )
                return None
        finally:
            lock.release()

    def _write_intent(self, path: Path, data: bytes) -> None:
        sync = self.durability.sync_metadata
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                write_all(fd, data, 0)
                if sync:
                    os.fdatasync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise storage_error("write transaction intent", path, exc) from exc
        if sync:
            fsync_dir(self.pending)

    def _apply(self, path: Path, intent: Intent) -> dict[TopicPartition, list[int]]:
        bases = {part.tp: self._apply_part(part, intent) for part in intent.parts}
        if intent.group is not None and intent.offsets:
            self._apply_offsets(intent)
        path.unlink(missing_ok=True)
        return bases

    def pending_ids(self) -> list[str]:
        """Names of intent files not yet applied."""
        try:
            return sorted(n for n in os.listdir(self.pending) if n.endswith(".intent"))
        except FileNotFoundError:
            return []

    def has_pending(self) -> bool:
        """True when some committed transaction is not fully applied yet."""
        return bool(self.pending_ids())

    def _recover_locked(self, txid: str) -> None:
        prefix = txid_file_name(txid) + "."
        for name in self.pending_ids():
            if name.startswith(prefix):
                self._recover_file(self.pending / name)

    def _recover_file(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        try:
            intent = Intent.decode(data)
        except (ValueError, KeyError, TypeError) as exc:
            # Never completely written, so never committed: the transaction did not happen.
            log.warning("discarding incomplete transaction intent %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return
        log.info("completing committed transaction %s", intent.id)
        self._apply(path, intent)

    def recover(self, *, wait: float = 0.0) -> None:
        """Complete every pending intent; waits up to ``wait`` seconds for one whose producer
        is still applying it (0: skip those)."""
        for name in self.pending_ids():
            txid_name = name.rsplit(".", 3)[0]
            lock = self._locks.get(txid_name)
            if lock is None:
                lock = self._locks[txid_name] = FileLock(self.ids / f"{txid_name}.lock")
            try:
                lock.acquire(wait)
            except StorageError:
                continue
            try:
                self._recover_file(self.pending / name)
            finally:
                lock.release()

    def close(self) -> None:
        """Release lock files."""
        for lock in self._locks.values():
            lock.close()
        self._locks.clear()


def intent_id(txid: str, epoch: int, sequence: int) -> str:
    """Name of an intent: transactional id, epoch and sequence."""
    return f"{txid_file_name(txid)}.{epoch}.{sequence}"
