"""The consumer of the embedded log: manual assignment or a consumer group (see groups.py).

``poll()`` returns records from per-partition fetches, refilled with one read (one ``pread``
of up to ``fetch.max.bytes``) per partition when used up, and decoded into records only as
``poll()`` takes them (see :class:`~strom.log.local.reader.Fetch`); it rotates over
partitions so none starves. While nothing is available it sleeps in short, growing steps (at
most 20 ms) and checks the partition heads (memory-mapped: no syscall) and the group.

Positions are resolved when partitions are assigned: the group's committed offset, else
``auto_offset_reset`` (``earliest``: the log start; ``latest``: the end; ``error``: raise).
An offset that retention removed is reset the same way. Offsets are only committed
explicitly. Both isolation levels read the same data: on this log, records of open or
aborted transactions never reach a partition (see transactions.py). A poll that finds nothing
checks (at most once a second) that the topics read still exist, and raises
:class:`~strom.errors.TopicNotFoundError` naming one that was deleted, as on Kafka.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from strom.errors import BrokerError, CommitError, ConfigError, StromError, TopicNotFoundError
from strom.log.local.config import CONSUMER_OPTIONS, client_options, int_option
from strom.log.local.groups import GroupMember
from strom.log.local.reader import Fetch, OffsetOutOfRange, PartitionReader, offset_for_time
from strom.log.local.transactions import LocalGroupMetadata
from strom.log.protocols import RebalanceCallback
from strom.log.types import (
    OFFSET_BEGINNING,
    OFFSET_END,
    IsolationLevel,
    OffsetReset,
    Record,
    TopicPartition,
    start_offsets,
)

if TYPE_CHECKING:
    from strom.log.local.log import LocalLog

log = logging.getLogger(__name__)

_METADATA_INTERVAL = 0.5
_TXN_RECOVERY_INTERVAL = 1.0
_TOPIC_CHECK_INTERVAL = 1.0


class LocalConsumer:
    """Consumer of the embedded log; see the module docstring. Made by ``LocalLog.consumer``."""

    def __init__(
        self,
        owner: LocalLog,
        group_id: str | None = None,
        *,
        auto_offset_reset: OffsetReset = "earliest",
        isolation_level: IsolationLevel = "read_committed",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if auto_offset_reset not in ("earliest", "latest", "error"):
            raise ConfigError(
                f"auto_offset_reset={auto_offset_reset!r}: use 'earliest', 'latest' or 'error'"
            )
        if isolation_level not in ("read_committed", "read_uncommitted"):
            raise ConfigError(
                f"isolation_level={isolation_level!r}: use 'read_committed' or 'read_uncommitted'"
            )
        if group_id is not None and (not isinstance(group_id, str) or not group_id):
            raise ConfigError(f"group_id={group_id!r} must be a non-empty string")
        self._log = owner
        opts = client_options({**owner.options, **(options or {})}, CONSUMER_OPTIONS, "consumer")
        self._session_timeout_ms = int_option(opts, "session.timeout.ms", 1)
        self._heartbeat = int_option(opts, "heartbeat.interval.ms", 1) / 1000
        self._max_poll_interval_ms = int_option(opts, "max.poll.interval.ms", 1)
        self._strategy = opts["partition.assignment.strategy"]
        self._fetch_bytes = int_option(opts, "fetch.max.bytes", 1)
        self.group_id = group_id
        self._reset = auto_offset_reset
        self._assigned: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._fetch: dict[TopicPartition, int] = {}
        # Fetched records not yet returned.
        self._buffers: dict[TopicPartition, Fetch] = {}
        self._readers: dict[TopicPartition, PartitionReader] = {}
        self._paused: set[TopicPartition] = set()
        self._turn = 0
        self._closed = False
        # group membership
        self._member: GroupMember | None = None
        self._subscription: list[str] | None = None
        self._on_assign: RebalanceCallback | None = None
        self._on_revoke: RebalanceCallback | None = None
        self._on_lost: RebalanceCallback | None = None
        self._generation = -1
        self._pending: frozenset[TopicPartition] | None = None
        self._next_check = 0.0
        self._next_metadata = 0.0
        self._next_txn_recovery = 0.0
        self._next_topic_check = time.monotonic() + _TOPIC_CHECK_INTERVAL

    # --- helpers -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerError("consumer is closed: create a new one with log.consumer()")

    def _need_group(self, what: str, error: type[Exception] = ConfigError) -> str:
        if self.group_id is None:
            raise error(f"{what} needs a consumer group: use log.consumer(group_id)")
        return self.group_id

    def _reset_offset(self, tp: TopicPartition) -> int:
        st = self._log.partition(tp.topic, tp.partition).state()
        if self._reset == "earliest":
            return st.log_start
        if self._reset == "latest":
            return st.next_offset
        raise BrokerError(
            f"no valid offset for {tp.topic!r} partition {tp.partition}"
            + (f" in group {self.group_id!r}" if self.group_id else "")
            + " and auto_offset_reset='error'"
        )

    def _set_position(self, tp: TopicPartition, offset: int) -> None:
        self._positions[tp] = offset
        self._fetch[tp] = offset
        self._buffers.pop(tp, None)

    def _resolve(self, partitions: Sequence[TopicPartition]) -> None:
        committed = self._committed_offsets(partitions, 30.0) if self.group_id else {}
        for tp in partitions:
            offset = committed.get(tp)
            self._set_position(tp, self._reset_offset(tp) if offset is None else offset)

    def _drop(self, partitions: Sequence[TopicPartition]) -> None:
        gone = set(partitions)
        self._assigned = [tp for tp in self._assigned if tp not in gone]
        for tp in gone:
            self._positions.pop(tp, None)
            self._fetch.pop(tp, None)
            self._buffers.pop(tp, None)
            self._readers.pop(tp, None)
            self._paused.discard(tp)

    # --- assignment --------------------------------------------------------------------------

    def assign(
        self,
        partitions: Sequence[TopicPartition],
        *,
        at: Mapping[TopicPartition, int] | None = None,
    ) -> None:
        """Read exactly ``partitions`` (outside group membership): those in ``at`` from that
        offset, the others from committed offsets or ``auto_offset_reset``."""
        self._check_open()
        if self._subscription is not None:
            raise ConfigError("assign() on a consumer that subscribed: use one or the other")
        wanted = [TopicPartition(*tp) for tp in partitions]
        for tp in wanted:
            self._log.partition(tp.topic, tp.partition)  # TopicNotFoundError
        starts = start_offsets(wanted, at, "assign()")
        self._drop(list(self._assigned))
        self._assigned = list(dict.fromkeys(wanted))
        self._resolve([tp for tp in self._assigned if tp not in starts])
        for tp, offset in starts.items():
            self.seek(tp, offset)

    def assignment(self) -> list[TopicPartition]:
        """The partitions assigned now."""
        return list(self._assigned)

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None:
        """Join the group; names starting with ``^`` are regular expressions over topics."""
        self._check_open()
        group = self._need_group("subscribe()")
        if isinstance(topics, str) or not topics:
            raise ConfigError(f"subscribe() needs a list of topic names, got {topics!r}")
        if self._subscription is None and self._assigned:
            self._drop(list(self._assigned))
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        if self._member is None:
            self._member = GroupMember(
                self._log.group_dir(group),
                group,
                resolve=self._log.resolve_topics,
                session_timeout_ms=self._session_timeout_ms,
                max_poll_interval_ms=self._max_poll_interval_ms,
                assignment_strategy=self._strategy,
            )
        self._subscription = list(topics)
        self._member.join(self._subscription)
        self._next_check = 0.0

    def _maintain_group(self) -> None:
        member = self._member
        if member is None:
            return
        now = time.monotonic()
        member.last_poll = now
        if now < self._next_check:
            return
        self._next_check = now + self._heartbeat
        check_metadata = now >= self._next_metadata
        if check_metadata:
            self._next_metadata = now + _METADATA_INTERVAL
        view = member.view(check_metadata=check_metadata)
        if not view.member:
            # Removed for missing heartbeats: the partitions are already someone else's.
            lost = list(self._assigned)
            self._drop(lost)
            self._pending = None
            self._generation = -1
            member.leave()
            callback = self._on_lost or self._on_revoke
            if lost and callback is not None:
                callback(lost)
            assert self._subscription is not None
            member.join(self._subscription)
            return
        if view.generation != self._generation:
            revoked = list(self._assigned)
            if revoked and self._on_revoke is not None:
                self._on_revoke(revoked)
            self._drop(revoked)
            member.release()
            self._generation = view.generation
            self._pending = view.target
        if self._pending is not None:
            target = self._pending
            if member.try_take(target, self._generation):
                self._pending = None
                self._assigned = sorted(target)
                self._resolve(self._assigned)
                if self._on_assign is not None:
                    self._on_assign(list(self._assigned))
            else:
                self._next_check = now + min(self._heartbeat, 0.02)

    # --- reading -----------------------------------------------------------------------------

    def _fill(self, tp: TopicPartition) -> Fetch | None:
        reader = self._readers.get(tp)
        if reader is None:
            reader = self._readers[tp] = PartitionReader(
                self._log.partition(tp.topic, tp.partition),
                skip_corrupt=self._log.skip_corrupt,
            )
        offset = self._fetch[tp]
        try:
            if offset > reader.partition.state().next_offset:
                raise OffsetOutOfRange(f"offset {offset} is past the end")
            fetch, next_offset = reader.read(offset, self._fetch_bytes)
        except OffsetOutOfRange:
            reset = self._reset_offset(tp)
            log.warning("%s: offset %d out of range, reset to %d", tp, offset, reset)
            self._set_position(tp, reset)
            return None
        self._fetch[tp] = next_offset
        if fetch is None:
            if next_offset > self._positions[tp]:
                self._positions[tp] = next_offset
        else:
            self._buffers[tp] = fetch
        return fetch

    def _collect(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        assigned = self._assigned
        count = len(assigned)
        if not count:
            return out
        start = self._turn % count
        self._turn += 1
        for i in range(count):
            tp = assigned[(start + i) % count]
            if tp in self._paused or tp not in self._positions:
                continue
            fetch = self._buffers.get(tp)
            records = fetch.take(max_records - len(out)) if fetch is not None else []
            if not records:
                fetch = self._fill(tp)
                if fetch is None:
                    continue
                records = fetch.take(max_records - len(out))
                if not records:
                    continue
            if out:
                out.extend(records)
            else:
                out = records
            self._positions[tp] = records[-1].offset + 1
            if len(out) >= max_records:
                break
        return out

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """Up to ``max_records`` records; waits at most ``timeout`` s for the first."""
        self._check_open()
        if max_records < 1:
            raise ConfigError(f"max_records={max_records} must be >= 1")
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = 0.0005
        while True:
            try:
                self._maintain_group()
                self._recover_transactions()
                records = self._collect(max_records)
            except StromError:
                self._check_topics_exist(force=True)  # a deleted topic explains errors best
                raise
            if records:
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._check_topics_exist()
                return records
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.02)

    def _check_topics_exist(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if now < self._next_topic_check and not force:
            return
        self._next_topic_check = now + _TOPIC_CHECK_INTERVAL
        named = [t for t in self._subscription or () if not t.startswith("^")]  # not patterns
        topics = {tp.topic for tp in self._assigned} | set(named)
        for topic in sorted(topics):
            if not self._log.topics.exists(topic):
                raise TopicNotFoundError(
                    f"poll failed: topic {topic!r} no longer exists: it was deleted while this "
                    "consumer read it"
                )

    def _recover_transactions(self) -> None:
        now = time.monotonic()
        if now >= self._next_txn_recovery:
            self._next_txn_recovery = now + _TXN_RECOVERY_INTERVAL
            try:
                self._log.transactions.recover(wait=0.0)
            except StromError:
                log.exception("completing pending transactions failed")

    # --- positions ---------------------------------------------------------------------------

    def _require_assigned(self, tp: TopicPartition, what: str) -> None:
        if tp not in self._positions and tp not in self._assigned:
            raise ConfigError(
                f"{what}: {tp.topic!r} partition {tp.partition} is not assigned to this consumer"
            )

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Continue ``partition`` at ``offset`` (or OFFSET_BEGINNING / OFFSET_END)."""
        self._check_open()
        tp = TopicPartition(*partition)
        self._require_assigned(tp, "seek()")
        st = self._log.partition(tp.topic, tp.partition).state()
        if offset == OFFSET_BEGINNING:
            offset = st.log_start
        elif offset == OFFSET_END:
            offset = st.next_offset
        elif offset < 0:
            raise ConfigError(f"seek(): offset {offset} is invalid")
        self._set_position(tp, offset)

    def seek_to_timestamp(self, partitions: Sequence[TopicPartition], timestamp: int) -> None:
        """Continue each partition at its first record with timestamp >= ``timestamp``."""
        for tp, offset in self.offsets_for_times(partitions, timestamp).items():
            self.seek(tp, OFFSET_END if offset is None else offset)

    def offsets_for_times(
        self, partitions: Sequence[TopicPartition], timestamp: int, *, timeout: float = 30.0
    ) -> dict[TopicPartition, int | None]:
        """Earliest offset with timestamp >= ``timestamp`` per partition (None: none)."""
        self._check_open()
        out: dict[TopicPartition, int | None] = {}
        for tp in partitions:
            tp = TopicPartition(*tp)
            out[tp] = offset_for_time(self._log.partition(tp.topic, tp.partition), timestamp)
        return out

    def position(self, partition: TopicPartition) -> int | None:
        """Offset of the next record to return for ``partition`` (None: not known yet)."""
        return self._positions.get(TopicPartition(*partition))

    def watermarks(
        self, partition: TopicPartition, *, timeout: float = 30.0, cached: bool = False
    ) -> tuple[int, int]:
        """(first retained offset, offset after the last record); ``cached`` changes nothing
        here: reading them costs no round trip."""
        st = self._log.partition(partition[0], partition[1]).state()
        return st.log_start, st.next_offset

    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        """Stop returning records of ``partitions`` (they stay assigned)."""
        self._paused.update(TopicPartition(*tp) for tp in partitions)

    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        """Return records of ``partitions`` again."""
        self._paused.difference_update(TopicPartition(*tp) for tp in partitions)

    # --- offsets -----------------------------------------------------------------------------

    def _committed_offsets(
        self, partitions: Sequence[TopicPartition], timeout: float
    ) -> dict[TopicPartition, int]:
        group = self._need_group("committed offsets", CommitError)
        if self._log.transactions.has_pending():
            self._log.transactions.recover(wait=timeout)
        ids = self._log.topics.ids(sorted({tp.topic for tp in partitions}))
        return self._log.offsets(group).read(ids)

    def commit(
        self, offsets: Mapping[TopicPartition, int] | None = None, *, timeout: float = 30.0
    ) -> None:
        """Commit the given next-offsets, or the current positions, durably."""
        self._check_open()
        group = self._need_group("commit()", CommitError)
        if offsets is None:
            offsets = {tp: self._positions[tp] for tp in self._assigned if tp in self._positions}
        else:
            offsets = {TopicPartition(*tp): int(o) for tp, o in offsets.items()}
        if not offsets:
            return
        member = None
        if self._member is not None and self._subscription is not None:
            # Fenced by generation under the group lock: a member removed or rebalanced away
            # (say, paused past its session) gets GroupFencedError and commits nothing.
            member = LocalGroupMetadata(group, self._member.member_id, self._generation)
        self._log.commit_offsets(group, offsets, member, timeout)

    def committed(
        self, partitions: Sequence[TopicPartition], *, timeout: float = 30.0
    ) -> dict[TopicPartition, int | None]:
        """The group's committed next-offset per partition (None where none)."""
        self._check_open()
        wanted = [TopicPartition(*tp) for tp in partitions]
        stored = self._committed_offsets(wanted, timeout)
        return {tp: stored.get(tp) for tp in wanted}

    def group_metadata(self) -> LocalGroupMetadata:
        """For :meth:`Producer.send_offsets_to_transaction`."""
        group = self._need_group("group_metadata()")
        member = self._member.member_id if self._member is not None else None
        return LocalGroupMetadata(group, member, self._generation)

    def close(self) -> None:
        """Leave the group (``on_revoke`` gets the partitions first) and release resources."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._member is not None:
                revoked = list(self._assigned)
                if revoked and self._on_revoke is not None:
                    try:
                        self._on_revoke(revoked)
                    except Exception:
                        log.exception("on_revoke raised during close()")
                self._member.close()
        finally:
            self._drop(list(self._assigned))
            self._log.forget_client(self)
