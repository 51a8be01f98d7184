"""The Kafka consumer: batches of immutable records, explicit commits, seeks that always work.

Two librdkafka behaviours are smoothed over here:

* ``seek`` fails with "Erroneous state" until a freshly assigned partition has started
  fetching. Such a seek restarts the partition at the offset instead (re-assigning it with an
  initial offset), and a seek made inside ``on_assign`` becomes the partition's initial offset.
* a synchronous commit waits for the group coordinator without a time limit; here it runs on
  a helper thread and gives up after ``timeout`` with a :class:`CommitError`.
* a deleted topic's partitions are fetched on silently, forever. A poll that finds nothing
  checks (at most every few seconds) that the topics read still exist, and raises
  :class:`~strom.errors.TopicNotFoundError` naming the one that was deleted.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from confluent_kafka import OFFSET_INVALID, KafkaError, KafkaException, Message
from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from strom.errors import (
    BrokerError,
    CommitError,
    ConfigError,
    MemberFencedError,
    StromError,
    TopicNotFoundError,
)
from strom.log.kafka.config import create_client, is_cooperative, with_error_cb
from strom.log.kafka.errors import commit_error, kafka_error, survivable, translate
from strom.log.kafka.health import ClientErrors, Reachability
from strom.log.kafka.metadata import partition_count, partition_counts
from strom.log.kafka.records import to_records
from strom.log.protocols import RebalanceCallback
from strom.log.types import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Record,
    TopicPartition,
    start_offsets,
)

NO_GROUP_PREFIX = "strom-nogroup-"
logger = logging.getLogger("strom.log.kafka")
_METADATA_TIMEOUT = 30.0
_MAX_BATCH = 1_000_000
_TOPIC_CHECK_INTERVAL = 10.0
# ... and only once no record came for this long: a consumer reading has its topics.
_TOPIC_CHECK_QUIET = 3.0
"""Seconds between two checks, by idle polls, that the topics read still exist."""
_TOPIC_CHECK_TIMEOUT = 2.0
_RESTART_TIMEOUT = 10.0
"""Seconds a resume may spend looking up where a partition starts."""


def _tps(parts: Sequence[KafkaTopicPartition]) -> list[TopicPartition]:
    return [TopicPartition(p.topic, p.partition) for p in parts]


class KafkaConsumer:
    """:class:`strom.log.Consumer` for Kafka (auto-commit off, offsets stored explicitly).

    Example:
        >>> import strom.log
        >>> log = strom.log.connect("kafka://127.0.0.1:9092")  # doctest: +SKIP
        >>> consumer = log.consumer("billing")  # doctest: +SKIP
        >>> consumer.subscribe(["orders"])  # doctest: +SKIP
        >>> for record in consumer.poll(max_records=500, timeout=1.0):  # doctest: +SKIP
        ...     print(record.offset, record.value)
    """

    def __init__(
        self,
        bootstrap: str,
        config: dict[str, Any],
        reach: Reachability,
        *,
        group_id: str | None,
    ) -> None:
        self._bootstrap = bootstrap
        self._reach = reach
        self._group_id = group_id
        self._cooperative = is_cooperative(config)
        self._errors = ClientErrors(bootstrap, "consumer")
        if group_id is None:
            # librdkafka needs a group.id even for manual assignment; this one never commits.
            config = {**config, "group.id": NO_GROUP_PREFIX + uuid.uuid4().hex}
        # Where assign() starts a partition of a consumer without a group: there is nothing
        # committed to look up (resolved to an absolute offset there).
        self._no_group_start = {"earliest": OFFSET_BEGINNING, "latest": OFFSET_END}.get(
            str(config.get("auto.offset.reset")), OFFSET_INVALID
        )
        self._consumer = create_client(
            ConfluentConsumer, with_error_cb(config, self._errors.on_error), "consumer"
        )
        self._subscribed = False
        self._in_assign = False
        # True while a revoke/lost callback runs: librdkafka blocks other threads' commits
        # until the callback returns, so commits made there run on the caller's thread.
        self._in_rebalance = False
        self._paused: set[TopicPartition] = set()
        self._pending: dict[TopicPartition, int] = {}
        self._starts: dict[TopicPartition, int] = {}
        self._deferred: StromError | None = None
        # Set once this member is fenced (static membership): every later poll and commit
        # raises it, the consumer being unusable.
        self._fenced: MemberFencedError | None = None
        # Partitions revoked or lost during the poll in progress (their records are dropped).
        self._moved: set[TopicPartition] = set()
        self._committer: ThreadPoolExecutor | None = None
        self._closed = False
        self._topics: list[str] = []  # subscribed topic names (patterns aside)
        self._next_topic_check = time.monotonic() + _TOPIC_CHECK_INTERVAL
        self._last_records = time.monotonic()

    # --- helpers ------------------------------------------------------------------------------

    def _ready(self, action: str, timeout: float = _METADATA_TIMEOUT) -> None:
        if self._closed:
            raise BrokerError(f"{action} failed: the consumer is closed")
        self._reach.ensure(action, timeout)

    def _partition_counts(self, topics: Sequence[str], action: str) -> dict[str, int]:
        return partition_counts(
            self._consumer, topics, action, bootstrap=self._bootstrap, timeout=_METADATA_TIMEOUT
        )

    def _assigned(self) -> set[TopicPartition]:
        return set(_tps(self._consumer.assignment()))

    def _start_offset(self, tp: TopicPartition) -> int:
        """Where a re-assigned partition continues: its position, else its last seek."""
        (pos,) = self._consumer.position([KafkaTopicPartition(tp.topic, tp.partition)])
        if pos.offset >= 0:
            return int(pos.offset)
        return self._starts.get(tp, OFFSET_INVALID)

    # --- membership ---------------------------------------------------------------------------

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None:
        """Join the group and take a share of ``topics``' partitions.

        ``on_assign`` receives the partitions added to this consumer, ``on_revoke`` those taken
        away, ``on_lost`` those lost without a clean revoke (``on_revoke`` when not given). All
        run inside :meth:`poll`. A :meth:`seek` inside ``on_assign`` sets where a new partition
        starts. Topic names starting with ``^`` are regular expressions (not checked).

        Raises:
            ConfigError: the consumer was opened without a group_id.
            TopicNotFoundError: a named topic does not exist.
        """
        action = "subscribe to " + ", ".join(repr(t) for t in topics)
        if self._group_id is None:
            raise ConfigError(
                f"{action} failed: the consumer has no group_id; pass one to "
                "log.consumer(group_id) or use assign()"
            )
        self._ready(action)
        self._partition_counts([t for t in topics if not t.startswith("^")], action)

        def assigned(_: Any, parts: list[KafkaTopicPartition]) -> None:
            self._reach.mark_reached()
            added = _tps(parts)
            self._in_assign = True
            try:
                if on_assign is not None:
                    on_assign(added)
            finally:
                self._in_assign = False
            start = [
                KafkaTopicPartition(tp.topic, tp.partition, self._pending.pop(tp, OFFSET_INVALID))
                for tp in added
            ]
            for tp, part in zip(added, start, strict=True):
                if part.offset != OFFSET_INVALID:
                    self._starts[tp] = part.offset
            if self._cooperative:
                self._consumer.incremental_assign(start)
            else:
                self._consumer.assign(start)

        def forget(parts: list[TopicPartition]) -> None:
            for tp in parts:
                self._paused.discard(tp)
                self._pending.pop(tp, None)
                self._starts.pop(tp, None)

        def revoked(_: Any, parts: list[KafkaTopicPartition]) -> None:
            removed = _tps(parts)
            self._moved.update(removed)
            forget(removed)
            if on_revoke is not None:
                self._in_rebalance = True
                try:
                    on_revoke(removed)
                finally:
                    self._in_rebalance = False

        def lost(_: Any, parts: list[KafkaTopicPartition]) -> None:
            gone = _tps(parts)
            self._moved.update(gone)
            forget(gone)
            callback = on_lost if on_lost is not None else on_revoke
            if callback is not None:
                self._in_rebalance = True
                try:
                    callback(gone)
                finally:
                    self._in_rebalance = False

        self._consumer.subscribe(list(topics), on_assign=assigned, on_revoke=revoked, on_lost=lost)
        self._subscribed = True
        self._topics = [t for t in topics if not t.startswith("^")]

    def assign(
        self,
        partitions: Sequence[TopicPartition],
        *,
        at: Mapping[TopicPartition, int] | None = None,
    ) -> None:
        """Read exactly ``partitions``: those in ``at`` from that offset, the others from the
        committed offset, else ``auto_offset_reset``.

        Raises:
            TopicNotFoundError: a topic or partition does not exist.
            ConfigError: a start offset is invalid, or for a partition not in ``partitions``.
        """
        wanted = [TopicPartition(t, p) for t, p in partitions]
        action = "assign " + ", ".join(f"{t}[{p}]" for t, p in wanted)
        given = start_offsets(wanted, at, action)
        self._ready(action)
        counts = self._partition_counts(sorted({tp.topic for tp in wanted}), action)
        for tp in wanted:
            if not 0 <= tp.partition < counts[tp.topic]:
                raise TopicNotFoundError(
                    f"{action} failed: partition {tp.partition} of topic {tp.topic!r} does not "
                    f"exist (the topic has {counts[tp.topic]} partitions)"
                )
        self._paused.clear()
        self._pending.clear()
        self._starts.clear()
        starts: list[int] = []
        for tp in wanted:
            offset = given.get(tp, OFFSET_INVALID)
            if offset == OFFSET_INVALID and self._group_id is None:
                # Nothing committed: start where the reset policy says (or nowhere, for
                # auto_offset_reset="error": librdkafka reports it at the first fetch).
                offset = self._no_group_start
            if offset in (OFFSET_BEGINNING, OFFSET_END):
                # An absolute offset: left to librdkafka, the lookup of a logical offset
                # answers late and undoes a seek made right after this call (seen: the
                # contract test read from 0 after seek(5)).
                offset = self.watermarks(tp)[0 if offset == OFFSET_BEGINNING else 1]
            if offset >= 0:
                self._starts[tp] = offset
            starts.append(offset)
        self._consumer.assign(
            [KafkaTopicPartition(t, p, o) for (t, p), o in zip(wanted, starts, strict=True)]
        )

    def assignment(self) -> list[TopicPartition]:
        """The partitions currently assigned, sorted."""
        return sorted(self._assigned())

    # --- reading ------------------------------------------------------------------------------

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """Up to ``max_records`` records of the partitions assigned now; rebalance callbacks
        run inside.

        Errors librdkafka recovers from by itself (a broker restarting, a coordinator loading
        or moving) are logged once and counted in :attr:`survived_errors`; the others are
        raised, an error reported next to records by the following call, so no record that
        was read is lost. Records of a partition revoked while this call ran are dropped:
        its new owner reads them from the committed offset.

        Raises:
            TopicNotFoundError: a subscribed topic does not exist.
            BrokerUnavailableError: the broker cannot be reached.
            MemberFencedError: another member took this one's ``group.instance.id``; this
                consumer is unusable from now on (close it, create a new one).
            BrokerError: librdkafka reported an error it does not retry (named).
        """
        if self._fenced is not None:
            raise self._fenced
        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            self._check_topics_exist(force=True)  # a deleted topic explains errors best
            raise error
        if not 1 <= max_records <= _MAX_BATCH:
            raise ConfigError(f"poll: max_records must be in 1..{_MAX_BATCH}, got {max_records}")
        self._ready("poll", timeout)
        self._moved.clear()
        try:
            messages = self._fetch(max_records, timeout)
        except KafkaException as exc:
            err = kafka_error(exc)
            if err is None or not survivable(err):
                raise translate(exc, "poll", bootstrap=self._bootstrap) from None
            self._errors.count(err, "")
            return []
        out, errors = to_records(messages)
        self._errors.raise_fatal("poll")
        first_error: StromError | None = None
        for msg in errors:
            err = msg.error()
            assert err is not None
            if survivable(err):
                self._errors.count(err, f" ({msg.topic()}[{msg.partition()}])")
            elif first_error is None:
                first_error = translate(
                    err,
                    "poll",
                    topic=msg.topic(),
                    partition=msg.partition(),
                    bootstrap=self._bootstrap,
                )
        if isinstance(first_error, MemberFencedError):
            # Nothing read is kept: it is not committed, and whoever owns it reads it again.
            self._fenced = first_error
            raise first_error
        if out and self._moved:
            out = self._drop_moved(out)
        now = time.monotonic()
        if out:
            self._last_records = now
        elif first_error is not None or now - self._last_records >= _TOPIC_CHECK_QUIET:
            # A metadata round trip per topic: only for a quiet consumer, at most every few
            # seconds; at once when an error is to be raised, which a deleted topic explains
            # best.
            self._check_topics_exist(force=first_error is not None)
        if first_error is not None:
            if not out:
                raise first_error
            self._deferred = first_error
        return out

    def _check_topics_exist(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if now < self._next_topic_check and not force:
            return
        self._next_topic_check = now + _TOPIC_CHECK_INTERVAL
        for topic in sorted({tp.topic for tp in self._assigned()} | set(self._topics)):
            try:
                partition_count(
                    self._consumer,
                    topic,
                    "poll",
                    bootstrap=self._bootstrap,
                    timeout=_TOPIC_CHECK_TIMEOUT,
                )
            except TopicNotFoundError:
                raise TopicNotFoundError(
                    f"poll failed: topic {topic!r} no longer exists: it was deleted while this "
                    "consumer read it"
                ) from None
            except StromError:
                return  # no answer from the broker: reported by the calls that need one

    def _drop_moved(self, records: list[Record]) -> list[Record]:
        """Records of this call without those of partitions revoked (or lost) inside it.

        Such records were fetched before the rebalance: their partition belongs to another
        member now, which reads them from the committed offset. A partition revoked and
        assigned back within the call restarts at its committed offset: records of it fetched
        here may be stale or fresh, so all are dropped and the partition re-read from there.
        """
        moved = set(self._moved)
        owned = self._assigned()
        kept = [r for r in records if (r.topic, r.partition) not in moved]
        again = {(r.topic, r.partition) for r in records} & moved & owned
        if again:
            tps = [TopicPartition(t, p) for t, p in sorted(again)]
            committed = self.committed(tps)
            for tp in tps:
                offset = committed.get(tp)
                self._restart_at(tp, offset if offset is not None else OFFSET_INVALID)
        return kept

    @property
    def survived_errors(self) -> dict[str, int]:
        """How many errors this consumer went on after, by librdkafka error name."""
        return dict(self._errors.survived)

    def _fetch(self, max_records: int, timeout: float) -> list[Message]:
        """What is queued now, else wait up to ``timeout`` for the first message and take
        what arrived with it. (``consume(n, timeout)`` alone waits for all n or the timeout.)
        """
        messages: list[Message] = self._consumer.consume(max_records, 0)
        if messages or timeout <= 0:
            return messages
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        if max_records == 1:
            return [first]
        return [first, *self._consumer.consume(max_records - 1, 0)]

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Continue ``partition`` at ``offset``, ``OFFSET_BEGINNING`` or ``OFFSET_END``.

        ``OFFSET_END`` and ``OFFSET_BEGINNING`` are resolved to the partition's current end and
        start: a record produced after the seek is read, and librdkafka never looks a logical
        offset up by itself (its late answer can undo a later seek, and a logical seek right
        after :meth:`assign` once left a partition unfetched for 20 s in CI).

        Raises:
            ConfigError: the partition is not assigned, or the offset is invalid.
        """
        tp = TopicPartition(*partition)
        if offset < 0 and offset not in (OFFSET_BEGINNING, OFFSET_END):
            raise ConfigError(f"seek {tp.topic}[{tp.partition}] failed: invalid offset {offset}")
        assigned = tp in self._assigned()
        if not assigned and not self._in_assign:
            raise ConfigError(
                f"seek {tp.topic}[{tp.partition}] failed: the partition is not assigned to "
                "this consumer; assign() it first, or seek inside on_assign"
            )
        if offset in (OFFSET_BEGINNING, OFFSET_END):
            offset = self.watermarks(tp)[0 if offset == OFFSET_BEGINNING else 1]
        if not assigned:
            self._pending[tp] = offset  # applied when on_assign returns
            return
        self._starts[tp] = offset
        try:
            self._consumer.seek(KafkaTopicPartition(tp.topic, tp.partition, offset))
        except KafkaException as exc:
            err = kafka_error(exc)
            # librdkafka refuses a seek while the partition's fetcher is (re)starting
            # ("Erroneous state", or "Outdated" when a newer op overtook it): restart there.
            if err is None or err.code() not in (KafkaError._STATE, KafkaError._OUTDATED):
                raise translate(
                    exc, "seek", topic=tp.topic, partition=tp.partition, bootstrap=self._bootstrap
                ) from None
            self._restart_at(tp, offset)

    def _restart_at(self, tp: TopicPartition, offset: int) -> None:
        """Re-assign a partition that is not fetching yet, starting at ``offset``."""
        if self._subscribed and not self._cooperative:
            # The eager protocol only allows whole-assignment changes.
            current = [
                KafkaTopicPartition(
                    t, p, offset if (t, p) == tp else self._start_offset(TopicPartition(t, p))
                )
                for t, p in sorted(self._assigned())
            ]
            self._consumer.assign(current)
            paused = list(self._paused)
        else:
            self._consumer.incremental_unassign([KafkaTopicPartition(tp.topic, tp.partition)])
            self._consumer.incremental_assign([KafkaTopicPartition(tp.topic, tp.partition, offset)])
            paused = [tp] if tp in self._paused else []
        if paused:
            self._consumer.pause([KafkaTopicPartition(t, p) for t, p in paused])

    def seek_to_timestamp(self, partitions: Sequence[TopicPartition], timestamp: int) -> None:
        """Continue each partition at its first record with timestamp >= ``timestamp``."""
        found = self.offsets_for_times(partitions, timestamp)
        for tp, offset in found.items():
            self.seek(tp, OFFSET_END if offset is None else offset)

    def offsets_for_times(
        self, partitions: Sequence[TopicPartition], timestamp: int, *, timeout: float = 30.0
    ) -> dict[TopicPartition, int | None]:
        """Earliest offset with timestamp >= ``timestamp`` per partition (None: none)."""
        self._ready("look up offsets for a timestamp", timeout)
        request = [KafkaTopicPartition(t, p, timestamp) for t, p in partitions]
        try:
            found = self._consumer.offsets_for_times(request, timeout=timeout)
        except KafkaException as exc:
            raise translate(exc, "offsets_for_times", bootstrap=self._bootstrap) from None
        out: dict[TopicPartition, int | None] = {}
        for part in found:
            if part.error is not None:
                raise translate(
                    part.error, "offsets_for_times", topic=part.topic, partition=part.partition
                )
            out[TopicPartition(part.topic, part.partition)] = (
                part.offset if part.offset >= 0 else None
            )
        return out

    def position(self, partition: TopicPartition) -> int | None:
        """Offset of the next record this consumer returns for ``partition`` (None: unknown
        until the first record, e.g. before the committed offset or reset is resolved)."""
        tp = TopicPartition(*partition)
        offset = self._start_offset(tp)
        return offset if offset >= 0 else None

    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        """Stop returning records of ``partitions`` (their assignment is kept)."""
        tps = [TopicPartition(t, p) for t, p in partitions]
        self._consumer.pause([KafkaTopicPartition(t, p) for t, p in tps])
        self._paused.update(tps)

    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        """Return records of ``partitions`` again.

        A partition paused before it returned its first record (e.g. paused in the poll that
        assigned it, while librdkafka was still looking its start offset up) is restarted at
        its start with a seek: librdkafka can leave such a partition unfetched for good after
        the resume (librdkafka issues #2190 and #5591; seen here as an application that
        restored its state, resumed, and never read again). The seek costs a committed-offset
        lookup, only for those partitions.
        """
        tps = [TopicPartition(t, p) for t, p in partitions]
        self._consumer.resume([KafkaTopicPartition(t, p) for t, p in tps])
        was_paused = [tp for tp in tps if tp in self._paused]
        self._paused.difference_update(tps)
        if was_paused:
            self._restart_unread(was_paused)

    def _restart_unread(self, tps: list[TopicPartition]) -> None:
        """Seek each of ``tps`` that has returned no record since it was assigned (or last
        sought) to where it starts: its last seek, else the committed offset, else the start
        the reset policy names (as an absolute offset)."""
        assigned = self._assigned()
        positions = self._consumer.position([KafkaTopicPartition(t, p) for t, p in tps])
        unread = [
            TopicPartition(tp.topic, tp.partition)
            for tp in positions
            if tp.offset < 0 and (tp.topic, tp.partition) in assigned
        ]
        if not unread:
            return
        targets = {tp: self._starts[tp] for tp in unread if tp in self._starts}
        rest = [tp for tp in unread if tp not in targets]
        try:
            if rest:
                for tp, offset in self.committed(rest, timeout=_RESTART_TIMEOUT).items():
                    if offset is not None:
                        targets[tp] = offset
                    elif self._no_group_start != OFFSET_INVALID:
                        targets[tp] = self._no_group_start  # resolved by seek()
            for tp, offset in targets.items():
                self.seek(tp, offset)
        except StromError as exc:
            # A plain resume then: it works but for the rare librdkafka case above, and a
            # broker that does not answer now must not fail the caller.
            logger.warning(
                "resume: restarting %s at its start failed (%s); resumed as it is",
                ", ".join(f"{t}[{p}]" for t, p in unread),
                exc,
            )

    def watermarks(
        self, partition: TopicPartition, *, timeout: float = 30.0, cached: bool = False
    ) -> tuple[int, int]:
        """(low, high) offsets of ``partition``, asked from the broker; with ``cached``, those
        of the last fetch response when the partition is assigned, not paused and fetched."""
        tp = TopicPartition(*partition)
        if cached and tp not in self._paused and tp in self._assigned():
            low, high = self._consumer.get_watermark_offsets(
                KafkaTopicPartition(tp.topic, tp.partition), cached=True
            ) or (-1, -1)
            if low >= 0 and high >= 0:
                return int(low), int(high)
        self._ready("read watermarks", timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = self._consumer.get_watermark_offsets(
                    KafkaTopicPartition(tp.topic, tp.partition),
                    timeout=max(deadline - time.monotonic(), 0.1),
                    cached=False,
                )
                if result is not None and min(result) < 0 and time.monotonic() < deadline:
                    # "No offset" without an error: never taken for an offset (a start at
                    # -1 is the end to librdkafka; an end of -1 reads as an empty partition).
                    time.sleep(0.05)
                    continue
                break
            except KafkaException as exc:
                err = kafka_error(exc)
                # Leadership moves (or a just-created partition not yet served) are transient.
                transient = err is not None and (
                    err.retriable()
                    or err.code()
                    in (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)
                )
                if transient and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise translate(
                    exc,
                    "read watermarks",
                    topic=tp.topic,
                    partition=tp.partition,
                    bootstrap=self._bootstrap,
                ) from None
        if result is None:
            raise BrokerError(
                f"read watermarks of {tp.topic}[{tp.partition}] timed out after {timeout:g} s"
            )
        low, high = result
        if low < 0 or high < 0:
            raise BrokerError(
                f"read watermarks of {tp.topic}[{tp.partition}] failed: the broker answered "
                f"({low}, {high}) (no offset) until the {timeout:g} s timeout ran out"
            )
        return int(low), int(high)

    # --- offsets ------------------------------------------------------------------------------

    def _group(self, action: str) -> str:
        if self._group_id is None:
            raise CommitError(
                f"{action} failed: the consumer has no group_id; pass one to log.consumer()"
            )
        return self._group_id

    def commit(
        self, offsets: Mapping[TopicPartition, int] | None = None, *, timeout: float = 30.0
    ) -> None:
        """Commit next-offsets synchronously: ``offsets``, or the current positions.

        Raises:
            CommitError: the group refused the commit (e.g. after a rebalance) or it did not
                complete within ``timeout``.
        """
        group = self._group("commit")
        if offsets is None:
            offsets = {tp: pos for tp in self._assigned() if (pos := self.position(tp)) is not None}
        if not offsets:
            return
        if self._fenced is not None:
            raise self._fenced
        self._ready("commit", timeout)
        parts = [KafkaTopicPartition(t, p, off) for (t, p), off in offsets.items()]
        try:
            if self._in_rebalance:
                result = self._consumer.commit(offsets=parts, asynchronous=False)
            else:
                if self._committer is None:
                    self._committer = ThreadPoolExecutor(1, thread_name_prefix="strom-kafka-commit")
                future = self._committer.submit(
                    self._consumer.commit, offsets=parts, asynchronous=False
                )
                result = future.result(timeout=timeout)
        except FutureTimeout:
            raise CommitError(
                f"commit for group {group!r} did not complete within {timeout:g} s; the group "
                f"coordinator at {self._bootstrap} did not answer"
            ) from None
        except KafkaException as exc:
            err = kafka_error(exc)
            if err is not None and err.code() == KafkaError._NO_OFFSET:
                return
            raise commit_error(
                exc, f"commit for group {group!r}", bootstrap=self._bootstrap
            ) from None
        for part in result or []:
            if part.error is not None:
                raise commit_error(
                    part.error,
                    f"commit for group {group!r}",
                    topic=part.topic,
                    partition=part.partition,
                )

    def committed(
        self, partitions: Sequence[TopicPartition], *, timeout: float = 30.0
    ) -> dict[TopicPartition, int | None]:
        """The group's committed next-offset per partition (None where nothing committed)."""
        tps = [TopicPartition(t, p) for t, p in partitions]
        if self._group_id is None:
            return dict.fromkeys(tps)
        self._ready("read committed offsets", timeout)
        try:
            found = self._consumer.committed(
                [KafkaTopicPartition(t, p) for t, p in tps], timeout=timeout
            )
        except KafkaException as exc:
            raise translate(exc, "read committed offsets", bootstrap=self._bootstrap) from None
        out: dict[TopicPartition, int | None] = {}
        for part in found:
            if part.error is not None:
                raise translate(
                    part.error, "read committed offsets", topic=part.topic, partition=part.partition
                )
            out[TopicPartition(part.topic, part.partition)] = (
                part.offset if part.offset >= 0 else None
            )
        return out

    def group_metadata(self) -> Any:
        """The group metadata for :meth:`KafkaProducer.send_offsets_to_transaction`."""
        self._group("read group metadata")
        return self._consumer.consumer_group_metadata()

    def close(self) -> None:
        """Leave the group (a prompt rebalance for the others) and release resources."""
        if self._closed:
            return
        self._closed = True
        try:
            self._consumer.close()
        finally:
            if self._committer is not None:
                self._committer.shutdown(wait=False)
