"""``LocalLog``: the embedded log at ``local://PATH``, a factory of admins, producers and
consumers that share open partitions within a process."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from strom.errors import CommitError, ConfigError, StorageError, TopicNotFoundError
from strom.log.local.admin import LocalAdmin
from strom.log.local.config import LOG_OPTIONS, client_options
from strom.log.local.consumer import LocalConsumer
from strom.log.local.durability import Durability, atomic_write, storage_error
from strom.log.local.groups import check_fence, group_dir_name, read_group_state, state_lock
from strom.log.local.locks import FileLock
from strom.log.local.maintenance import Maintainer
from strom.log.local.offsets import OffsetStore
from strom.log.local.partition import Partition
from strom.log.local.producer import LocalProducer
from strom.log.local.reader import iter_headers
from strom.log.local.topics import TopicStore
from strom.log.local.transactions import (
    Intent,
    LocalGroupMetadata,
    PartitionPart,
    TransactionCoordinator,
)
from strom.log.types import IsolationLevel, OffsetReset, TopicPartition

log = logging.getLogger(__name__)


class LocalLog:
    """The embedded durable log in directory ``path``.

    Args:
        path: the log directory (created if missing).
        options: ``fsync`` (``batch`` | ``interval`` | ``none``, see
            :mod:`strom.log.local.durability`), ``fsync.interval.ms``, ``on_corruption``
            (``error`` | ``skip``), and defaults for producer and consumer options.
        clock: wall clock in seconds (tests inject one for time-based retention and rolls).

    Example:
        >>> import tempfile
        >>> from strom.log import TopicSpec
        >>> log = LocalLog(tempfile.mkdtemp(), {"fsync": "none"})
        >>> log.admin().create_topics([TopicSpec("t", partitions=2)])
        >>> p = log.producer(); p.send("t", b"hello", b"k"); p.flush(); p.close()
        >>> c = log.consumer(); c.assign([TopicPartition("t", 0), TopicPartition("t", 1)])
        >>> [r.value for r in c.poll(timeout=1.0)]
        [b'hello']
        >>> c.close(); log.close()
    """

    def __init__(
        self,
        path: str | Path,
        options: Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(path).expanduser().absolute()
        self.url = f"local://{path}"
        self.options: dict[str, Any] = dict(options or {})
        opts = client_options(self.options, LOG_OPTIONS, "log")
        self.durability = Durability.parse(opts["fsync"], opts["fsync.interval.ms"])
        corruption = opts["on_corruption"].strip().lower()
        if corruption not in ("error", "skip"):
            raise ConfigError(f"option on_corruption={corruption!r}: use 'error' or 'skip'")
        self.skip_corrupt = corruption == "skip"
        self.clock = clock
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.groups_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise storage_error("create log directory", self.root, exc) from exc
        self.topics = TopicStore(self.root, self.durability)
        self._partitions: dict[tuple[str, int], tuple[str, Partition]] = {}
        self._offsets: dict[str, OffsetStore] = {}
        self._group_locks: dict[str, FileLock] = {}
        self._mutex = threading.RLock()
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()
        self.transactions = TransactionCoordinator(
            self.root, self.durability, self._apply_part, self._apply_offsets
        )
        self.transactions.recover(wait=0.0)
        self.maintenance = Maintainer()
        self.closed = False

    @property
    def groups_dir(self) -> Path:
        """Directory of the consumer groups."""
        return self.root / "groups"

    def __repr__(self) -> str:
        return f"LocalLog({str(self.root)!r})"

    # --- clients -----------------------------------------------------------------------------

    def admin(self) -> LocalAdmin:
        """A topic administration client."""
        return LocalAdmin(self)

    def producer(
        self, *, transactional_id: str | None = None, options: Mapping[str, Any] | None = None
    ) -> LocalProducer:
        """A producer (transactional with ``transactional_id``)."""
        client = LocalProducer(self, transactional_id=transactional_id, options=options)
        self._clients.add(client)
        return client

    def consumer(
        self,
        group_id: str | None = None,
        *,
        auto_offset_reset: OffsetReset = "earliest",
        isolation_level: IsolationLevel = "read_committed",
        options: Mapping[str, Any] | None = None,
    ) -> LocalConsumer:
        """A consumer; with ``group_id`` it can subscribe and commit."""
        client = LocalConsumer(
            self,
            group_id,
            auto_offset_reset=auto_offset_reset,
            isolation_level=isolation_level,
            options=options,
        )
        self._clients.add(client)
        return client

    def forget_client(self, client: object) -> None:
        """Called by a client that closed."""
        self._clients.discard(client)

    # --- partitions --------------------------------------------------------------------------

    def partition(self, topic: str, number: int) -> Partition:
        """The open partition ``number`` of ``topic`` (TopicNotFoundError if there is none)."""
        meta = self.topics.get(topic)
        if not 0 <= number < meta.partitions:
            raise TopicNotFoundError(
                f"topic {topic!r} has no partition {number} ({meta.partitions} partitions)"
            )
        key = (topic, number)
        cached = self._partitions.get(key)
        if cached is not None and cached[0] == meta.id and not cached[1].closed:
            return cached[1]
        with self._mutex:
            cached = self._partitions.get(key)
            if cached is not None and cached[0] == meta.id and not cached[1].closed:
                return cached[1]
            p = Partition(
                topic,
                number,
                self.topics.partition_dir(topic, number),
                meta.config,
                self.durability,
                clock=self.clock,
            )
            p.busy = self.transactions.has_pending
            self._partitions[key] = (meta.id, p)
            return p

    def drop_partitions(self, topic: str) -> None:
        """Forget the open partitions of ``topic`` (it is being deleted)."""
        with self._mutex:
            for key in [k for k in self._partitions if k[0] == topic]:
                self._partitions.pop(key)

    def resolve_topics(self, subscription: Sequence[str]) -> dict[str, int]:
        """Partition counts of the existing topics a subscription names (``^regex`` too)."""
        out: dict[str, int] = {}
        names: list[str] | None = None
        for entry in subscription:
            if entry.startswith("^"):
                if names is None:
                    names = self.topics.names()
                pattern = re.compile(entry)
                matched = [n for n in names if pattern.match(n)]
            else:
                matched = [entry]
            for name in matched:
                try:
                    out[name] = self.topics.get(name).partitions
                except TopicNotFoundError:
                    continue
        return out

    # --- groups and offsets ------------------------------------------------------------------

    def group_dir(self, group: str) -> Path:
        """Directory of ``group`` (created with its id marker)."""
        path = self.groups_dir / group_dir_name(group)
        marker = path / "group.json"
        if not marker.exists():
            try:
                path.mkdir(parents=True, exist_ok=True)
                atomic_write(marker, json.dumps({"group": group}).encode(), sync=False)
            except OSError as exc:
                raise storage_error("create group directory", path, exc) from exc
        return path

    def offsets(self, group: str) -> OffsetStore:
        """The committed-offsets store of ``group``."""
        store = self._offsets.get(group)
        if store is None:
            store = self._offsets[group] = OffsetStore(
                self.groups_dir / group_dir_name(group), group, self.durability
            )
        return store

    def commit_offsets(
        self,
        group: str,
        offsets: Mapping[TopicPartition, int],
        member: LocalGroupMetadata | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Durably commit ``offsets`` for ``group``; with ``member`` (a subscribed consumer's
        metadata), only while that member still owns the partitions since its generation.

        Raises:
            GroupFencedError: ``member`` was removed or its generation is over.
            CommitError: storage failed (nothing changed).
        """
        topics = sorted({tp.topic for tp in offsets})
        ids = self.topics.ids(topics)
        for topic in topics:
            if topic not in ids:
                raise TopicNotFoundError(
                    f"commit for group {group!r}: topic {topic!r} does not exist"
                )
        try:
            self.make_durable(offsets)
            with self.fenced(group, member, list(offsets), timeout):
                self.offsets(group).commit(offsets, ids)
        except StorageError as exc:
            raise CommitError(f"commit for group {group!r} failed, nothing changed: {exc}") from exc

    def make_durable(self, offsets: Mapping[TopicPartition, int]) -> None:
        """fsync the records that committing ``offsets`` covers, where they may not be yet
        (``fsync=interval``): a committed offset must never be durable before its records,
        or a machine crash would leave it pointing past lost data."""
        for tp, offset in offsets.items():
            try:
                p = self.partition(tp.topic, tp.partition)
            except TopicNotFoundError:
                continue
            p.make_durable(offset)

    @contextlib.contextmanager
    def fenced(
        self,
        group: str,
        member: LocalGroupMetadata | None,
        partitions: Sequence[TopicPartition],
        timeout: float,
    ) -> Iterator[None]:
        """Hold ``group``'s state lock while ``member`` is checked (still in the group, owning
        ``partitions`` since its generation) and the body writes what the check guards: no
        rebalance can slip in between. Without a member id (an ``assign()`` consumer) there
        is nothing to fence and no lock is taken.

        Raises:
            GroupFencedError: the member was removed or its generation is over.
            StorageError: the lock was not free within ``timeout``.
        """
        directory = self.group_dir(group)
        if member is None or member.member_id is None:
            yield
            return
        lock = self._group_locks.get(group)
        if lock is None:
            lock = self._group_locks[group] = state_lock(directory)
        lock.acquire(timeout)
        try:
            state = read_group_state(directory, None)[1]
            check_fence(state, group, member.member_id, member.generation, partitions)
            yield
        finally:
            lock.release()

    def check_member(
        self, metadata: LocalGroupMetadata, partitions: Sequence[TopicPartition] = ()
    ) -> None:
        """GroupFencedError when the consumer behind ``metadata`` left, was removed, or its
        generation is over (an early check: commits check again under the group lock)."""
        with self.fenced(metadata.group_id, metadata, partitions, 30.0):
            pass

    # --- transactions ------------------------------------------------------------------------

    def _apply_part(self, part: PartitionPart, intent: Intent) -> list[int]:
        try:
            meta = self.topics.get(part.tp.topic)
        except TopicNotFoundError:
            log.warning("transaction %s: topic %s was deleted, part dropped", intent.id, part.tp)
            return []
        if meta.id != part.topic_id:
            return []
        p = self.partition(part.tp.topic, part.tp.partition)
        key = (intent.producer_id, intent.epoch & 0x7FFF, intent.sequence & 0x7FFFFFFF)
        found = [
            h.base_offset
            for h in iter_headers(p, part.lower)
            if (h.producer_id, h.producer_epoch, h.base_sequence) == key
        ]
        if found:
            return found
        # fsync-ed whatever the policy: once the intent is deleted, the partition holds the
        # only copy of these records.
        result = p.append(part.batches, atomic=True, sync=True)
        if result.error is not None:
            raise result.error
        return result.base_offsets

    def _apply_offsets(self, intent: Intent) -> None:
        assert intent.group is not None
        ids = {t: i for t, i in intent.topic_ids.items() if self.topics.ids([t]).get(t) == i}
        offsets = {tp: o for tp, o in intent.offsets.items() if tp.topic in ids}
        if offsets:
            self.make_durable(offsets)
            self.group_dir(intent.group)
            self.offsets(intent.group).commit(offsets, ids, txn=intent.id)

    # --- maintenance -------------------------------------------------------------------------

    def maintain(self, topics: Sequence[str] | None = None) -> None:
        """Run retention and compaction now on ``topics`` (default: all)."""
        for name in topics if topics is not None else self.topics.names(internal=True):
            meta = self.topics.get(name)
            for number in range(meta.partitions):
                self.partition(name, number).maintain()

    def compact(self, topic: str) -> None:
        """Compact every partition of a compacted ``topic`` now, even if not due."""
        from strom.log.local.compaction import compact

        meta = self.topics.get(topic)
        if not meta.config.compact:
            raise ConfigError(f"topic {topic!r} is not compacted (cleanup.policy=delete)")
        for number in range(meta.partitions):
            compact(self.partition(topic, number), force=True)

    def close(self) -> None:
        """Close every client still open and release files."""
        if self.closed:
            return
        self.closed = True
        for client in list(self._clients):
            try:
                client.close()
            except Exception:
                log.exception("closing %r failed", client)
        self.maintenance.close(30.0)
        with self._mutex:
            for _, p in self._partitions.values():
                p.close()
            self._partitions.clear()
        for store in self._offsets.values():
            store.close()
        for lock in self._group_locks.values():
            lock.close()
        self.transactions.close()
