"""Inspecting and replaying dead-letter topics, on any log (the library behind ``strom dlq``).

Everything here uses only the public :mod:`strom.log` API, so it works on ``kafka://`` and
``local://`` alike.

* :func:`find_dead_letter_topics` — which topics are dead-letter topics: those whose first
  retained record (of any partition) carries strom's dead-letter headers, plus empty or not
  yet written topics named ``*-dlq``, ``*.dlq`` or ``*_dlq``.
* :func:`read_dead_letters` / :func:`summarize` — read a topic from its start up to the end
  offsets taken when reading began (a bounded read: records written meanwhile wait for the
  next run).
* :func:`replay` — re-inject records at least once: produce a batch, flush, then commit the
  replay group's offsets, so a run that stops (or crashes) is continued by the next run with
  the same group, without losing a record; a crash between flush and commit replays that batch
  again (the at-least-once duplicate window).

Example:
    >>> import tempfile, strom.log
    >>> log = strom.log.connect("local://" + tempfile.mkdtemp())
    >>> log.admin().create_topics([strom.log.TopicSpec("orders-dlq")])
    >>> find_dead_letter_topics(log).topics
    ['orders-dlq']
    >>> summarize(log, "orders-dlq").total
    0
    >>> log.close()
"""

from __future__ import annotations

import fnmatch
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from strom.dead_letter import DeadLetter, is_dead_letter, replay_headers, try_parse
from strom.errors import ConfigError, TopicNotFoundError
from strom.log.protocols import Consumer, Log
from strom.log.types import Record, TopicPartition

DLQ_SUFFIXES = ("-dlq", ".dlq", "_dlq")
"""Topic names with these endings are listed as dead-letter topics even while empty."""

DEFAULT_GROUP_PREFIX = "strom-dlq-replay."
"""The replay group defaults to this prefix + the dead-letter topic's name."""

Progress = Callable[[int, int], None]
"""Called with (records read so far, records to read in total)."""


def _partitions(log: Log, topic: str) -> list[TopicPartition]:
    admin = log.admin()
    try:
        count = admin.describe_topic(topic).partitions
    finally:
        admin.close()
    return [TopicPartition(topic, p) for p in range(count)]


def _bounded_read(
    consumer: Consumer,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    *,
    idle_timeout: float,
    batch_size: int = 500,
) -> Iterator[list[Record]]:
    """Batches of records from ``starts`` up to (excluding) ``ends``, partition by partition
    in offset order. A partition also counts as read when its position reaches its end, or
    when nothing arrives for ``idle_timeout`` seconds (aborted transactions and markers leave
    offsets that are never delivered)."""
    pending = {tp for tp in starts if starts[tp] < ends[tp]}
    if not pending:
        return
    consumer.assign(list(starts), at=starts)
    idle_since = time.monotonic()
    while pending:
        records = consumer.poll(batch_size, timeout=min(0.5, idle_timeout))
        batch = [
            r
            for r in records
            if r.topic_partition in pending and r.offset < ends[r.topic_partition]
        ]
        for r in records:
            if r.offset + 1 >= ends.get(r.topic_partition, 0):
                pending.discard(r.topic_partition)
        if batch:
            idle_since = time.monotonic()
            yield batch
            continue
        for tp in list(pending):
            position = consumer.position(tp)
            if position is not None and position >= ends[tp]:
                pending.discard(tp)
        if time.monotonic() - idle_since > idle_timeout:
            return


def _start_and_end(
    consumer: Consumer, partitions: Sequence[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    starts: dict[TopicPartition, int] = {}
    ends: dict[TopicPartition, int] = {}
    for tp in partitions:
        starts[tp], ends[tp] = consumer.watermarks(tp)
    return starts, ends


def read_dead_letters(
    log: Log,
    topic: str,
    *,
    max_records: int | None = None,
    idle_timeout: float = 5.0,
) -> Iterator[Record]:
    """The records of ``topic`` from its start to its current end (at most ``max_records``).

    Raises:
        TopicNotFoundError: ``topic`` does not exist.
    """
    partitions = _partitions(log, topic)
    consumer = log.consumer(None)
    try:
        starts, ends = _start_and_end(consumer, partitions)
        seen = 0
        for batch in _bounded_read(consumer, starts, ends, idle_timeout=idle_timeout):
            for record in batch:
                if max_records is not None and seen >= max_records:
                    return
                seen += 1
                yield record
    finally:
        consumer.close()


@dataclass(slots=True)
class Summary:
    """Counts over a dead-letter topic.

    Attributes:
        topic: the dead-letter topic.
        total: records read.
        not_dead_letters: records without (well-formed) strom dead-letter headers.
        by_error_type / by_step / by_source: counts per exception type, step, source topic.
        first_failure_ms / last_failure_ms: earliest first failure and latest last failure.
    """

    topic: str
    total: int = 0
    not_dead_letters: int = 0
    by_error_type: Counter[str] = field(default_factory=Counter)
    by_step: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    first_failure_ms: int | None = None
    last_failure_ms: int | None = None

    def add(self, record: Record) -> None:
        """Count one record."""
        self.total += 1
        dead = try_parse(record)
        if dead is None:
            self.not_dead_letters += 1
            return
        self.by_error_type[dead.failure.error_type] += 1
        self.by_step[dead.failure.step] += 1
        self.by_source[dead.source.topic] += 1
        first, last = dead.failure.first_failure_ms, dead.failure.last_failure_ms
        self.first_failure_ms = (
            first if self.first_failure_ms is None else min(self.first_failure_ms, first)
        )
        self.last_failure_ms = (
            last if self.last_failure_ms is None else max(self.last_failure_ms, last)
        )

    def as_dict(self) -> dict[str, object]:
        """A JSON-able view."""
        return {
            "topic": self.topic,
            "total": self.total,
            "not_dead_letters": self.not_dead_letters,
            "by_error_type": dict(self.by_error_type.most_common()),
            "by_step": dict(self.by_step.most_common()),
            "by_source": dict(self.by_source.most_common()),
            "first_failure_ms": self.first_failure_ms,
            "last_failure_ms": self.last_failure_ms,
        }


def summarize(log: Log, topic: str, *, idle_timeout: float = 5.0) -> Summary:
    """Read ``topic`` to its current end and count its records by error type, step, source."""
    summary = Summary(topic)
    for record in read_dead_letters(log, topic, idle_timeout=idle_timeout):
        summary.add(record)
    return summary


class Discovery(NamedTuple):
    """What :func:`find_dead_letter_topics` found.

    Attributes:
        topics: the dead-letter topics, sorted.
        undecided: topics not all of whose partitions answered before the timeout (and none
            of which showed a dead-letter record), sorted.
    """

    topics: list[str]
    undecided: list[str]


def find_dead_letter_topics(
    log: Log, *, match: Sequence[str] = (), timeout: float = 30.0
) -> Discovery:
    """Dead-letter topics of ``log``: topics whose first retained record of any partition
    carries strom's dead-letter headers, and topics named ``*-dlq``/``*.dlq``/``*_dlq``.

    Reads at most about one record per partition, with one consumer for all; on a log with
    many topics, narrow the search with ``match``.

    Args:
        log: the log to search.
        match: shell-style patterns (``orders-*``); only topics matching one are considered.
            Empty: every topic.
        timeout: seconds to wait for partitions to answer; those that did not are reported
            in :attr:`Discovery.undecided`.
    """
    admin = log.admin()
    try:
        topics: list[str] = []
        partitions: list[TopicPartition] = []
        for name in admin.list_topics():
            if match and not any(fnmatch.fnmatchcase(name, pattern) for pattern in match):
                continue
            try:
                count = admin.describe_topic(name).partitions
            except TopicNotFoundError:
                continue  # deleted since it was listed
            topics.append(name)
            partitions += [TopicPartition(name, p) for p in range(count)]
    finally:
        admin.close()
    found = {t for t in topics if t.endswith(DLQ_SUFFIXES)}
    probe = [tp for tp in partitions if tp.topic not in found]
    if not probe:
        return Discovery(sorted(found), [])
    consumer = log.consumer(None)
    try:
        starts: dict[TopicPartition, int] = {}
        ends: dict[TopicPartition, int] = {}
        for tp in probe:
            try:
                low, high = consumer.watermarks(tp)
            except TopicNotFoundError:
                continue  # deleted since it was listed
            if low < high:
                starts[tp], ends[tp] = low, high
        pending = set(starts)
        consumer.assign(sorted(pending), at={tp: starts[tp] for tp in pending})
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            try:
                records = consumer.poll(500, timeout=0.5)
            except TopicNotFoundError:
                # A topic was deleted meanwhile: stop reading it, go on with the others.
                alive = set(_list_topics(log))
                gone = {tp for tp in pending if tp.topic not in alive}
                pending -= gone
                consumer.assign(sorted(pending), at={tp: starts[tp] for tp in pending})
                continue
            answered = {r.topic_partition for r in records if r.topic_partition in pending}
            found |= {
                r.topic for r in records if r.topic_partition in pending and is_dead_letter(r)
            }
            if not answered:
                # Offsets taken by transaction markers or aborted records are never returned:
                # such a partition is read once its position reaches its end.
                answered = {tp for tp in pending if (consumer.position(tp) or -1) >= ends[tp]}
            # A partition that answered has told what it is: stop fetching it.
            finished = answered | {tp for tp in pending if tp.topic in found}
            if finished:
                pending -= finished
                consumer.pause(sorted(finished))
    finally:
        consumer.close()
    return Discovery(sorted(found), sorted({tp.topic for tp in pending} - found))


def _list_topics(log: Log) -> list[str]:
    admin = log.admin()
    try:
        return admin.list_topics()
    finally:
        admin.close()


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which dead-letter records to replay; None fields match everything.

    Attributes:
        step: only failures of this step.
        error_type: only this exception type (qualified, or its last part: ``ValueError``).
        source_topic: only records read from this topic.
    """

    step: str | None = None
    error_type: str | None = None
    source_topic: str | None = None

    def matches(self, dead: DeadLetter) -> bool:
        """True when ``dead`` passes every given condition."""
        if self.step is not None and dead.failure.step != self.step:
            return False
        if self.error_type is not None and not dead.failure.error_type_matches(self.error_type):
            return False
        return self.source_topic is None or dead.source.topic == self.source_topic


@dataclass(slots=True)
class ReplayResult:
    """What a replay did.

    Attributes:
        topic: the dead-letter topic.
        group: the replay group whose offsets were committed.
        replayed: records re-injected.
        filtered: dead-letter records passed over by the filter (their offsets are committed).
        not_dead_letters: records without (well-formed) dead-letter headers, passed over.
        by_target: records re-injected per target topic.
        committed: the group's committed next-offset per partition after the run.
    """

    topic: str
    group: str
    replayed: int = 0
    filtered: int = 0
    not_dead_letters: int = 0
    by_target: Counter[str] = field(default_factory=Counter)
    committed: dict[TopicPartition, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """A JSON-able view."""
        return {
            "topic": self.topic,
            "group": self.group,
            "replayed": self.replayed,
            "filtered": self.filtered,
            "not_dead_letters": self.not_dead_letters,
            "by_target": dict(self.by_target),
            "committed": {f"{tp.topic}-{tp.partition}": o for tp, o in self.committed.items()},
        }


def replay(
    log: Log,
    topic: str,
    *,
    to: str | None = None,
    where: ReplayFilter | None = None,
    max_records: int | None = None,
    group: str | None = None,
    from_beginning: bool = False,
    keep_timestamp: bool = True,
    progress: Progress | None = None,
    idle_timeout: float = 5.0,
    flush_timeout: float = 30.0,
) -> ReplayResult:
    """Re-inject the dead-letter records of ``topic``, at least once.

    Each record goes out with its original key and value bytes and its original headers
    (strom's ``strom.error.*``/``strom.source.*`` stripped, ``strom.replayed_from`` added),
    to ``to`` or else to its source topic — there into its original partition when that still
    exists, so per-key order is kept; into the key's partition on any other topic. Its
    timestamp is the original one unless ``keep_timestamp`` is False.

    Per polled batch: produce, flush, then commit the group's offsets. The group's offsets
    pass over filtered records too: replay a different filter with a different ``group``.

    Args:
        log: the log holding the dead-letter topic.
        topic: the dead-letter topic.
        to: target topic; None = each record's source topic.
        where: which records to replay (all by default).
        max_records: stop after re-injecting this many.
        group: the replay group; default ``strom-dlq-replay.<topic>``.
        from_beginning: start at the topic's first record, not at the group's committed offsets.
        keep_timestamp: give replayed records their original timestamps.
        progress: called with (records read, records to read) after each batch.
        idle_timeout: seconds without records after which a partition counts as read.
        flush_timeout: seconds to wait for the log to acknowledge a batch.

    Raises:
        TopicNotFoundError: ``topic`` or a target topic does not exist.
        DeliveryError: a replayed record was refused; nothing past the last acknowledged batch
            is committed, so running again continues from there.
    """
    if max_records is not None and max_records < 0:
        raise ConfigError(f"max_records must be >= 0, got {max_records}")
    group_id = group or DEFAULT_GROUP_PREFIX + topic
    partitions = _partitions(log, topic)
    result = ReplayResult(topic, group_id)
    consumer = log.consumer(group_id)
    producer = log.producer()
    target_partitions: dict[str, int] = {}

    def partitions_of(name: str) -> int:
        if name not in target_partitions:
            target_partitions[name] = producer.partitions_for(name)
        return target_partitions[name]

    try:
        low, ends = _start_and_end(consumer, partitions)
        starts = dict(low)
        if not from_beginning:
            for tp, offset in consumer.committed(partitions).items():
                if offset is not None:
                    starts[tp] = max(offset, low[tp])
        total = sum(max(0, ends[tp] - starts[tp]) for tp in partitions)
        read = 0
        limit_hit = max_records == 0
        if progress is not None:
            progress(0, total)
        batches = _bounded_read(consumer, starts, ends, idle_timeout=idle_timeout)
        while not limit_hit:
            batch = next(batches, None)
            if batch is None:
                break
            offsets: dict[TopicPartition, int] = {}
            for record in batch:
                if max_records is not None and result.replayed >= max_records:
                    limit_hit = True
                    break
                read += 1
                offsets[record.topic_partition] = record.offset + 1
                dead = try_parse(record)
                if dead is None:
                    result.not_dead_letters += 1
                    continue
                if where is not None and not where.matches(dead):
                    result.filtered += 1
                    continue
                target = to or dead.source.topic
                partition: int | None = None
                if to is None and dead.source.partition < partitions_of(target):
                    partition = dead.source.partition
                elif to is not None:
                    partitions_of(target)  # raises TopicNotFoundError before anything is sent
                producer.send(
                    target,
                    dead.value,
                    dead.key,
                    partition=partition,
                    timestamp=dead.source.timestamp if keep_timestamp else None,
                    headers=replay_headers(dead),
                )
                result.replayed += 1
                result.by_target[target] += 1
            producer.flush(flush_timeout)
            if offsets:
                consumer.commit(offsets)
                result.committed.update(offsets)
            if progress is not None:
                progress(read, total)
    except TopicNotFoundError as exc:
        raise TopicNotFoundError(
            f"replay of {topic!r}: {exc}; create the target topic or pass another with --to"
        ) from exc
    finally:
        try:
            producer.close()
        finally:
            consumer.close()
    return result


def check_topic_exists(log: Log, topic: str) -> None:
    """Raise TopicNotFoundError naming ``topic`` and what to do when it does not exist."""
    admin = log.admin()
    try:
        if topic not in admin.list_topics():
            raise TopicNotFoundError(
                f"topic {topic!r} does not exist on {log.url}; `strom dlq list` shows the "
                "dead-letter topics"
            )
    finally:
        admin.close()
