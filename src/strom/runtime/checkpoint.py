"""The checkpoint: the one place where processed work becomes committed progress.

=================  ===========================================================================
guarantee          checkpoint
=================  ===========================================================================
at-least-once      at every ``commit_interval``: flush the sinks, flush the producer (every
                   output acknowledged), then commit the offsets after the processed records.
                   A crash re-reads everything after the last commit: no loss, maybe repeats.
at-most-once       each polled batch's offsets are committed *before* it is processed
                   (:meth:`Checkpoint.before_batch`); the interval only flushes outputs.
                   A crash skips the rest of the batch in hand: no repeats, maybe loss.
exactly-once       a transaction is always open on the application's transactional producer;
                   every output, repartition, changelog and dead-letter record goes into it,
                   and at every ``commit_interval`` the input offsets are sent into it
                   (with the consumer's group metadata, which fences a zombie of an older
                   generation) and it is committed. Anything that fails aborts it, and every
                   task is rewound to its last committed offsets and state (the runner).
=================  ===========================================================================

With stateful steps, the commit follows the order of ``STATE_AND_TIME.md``: sinks flush, the
stores' changes are sent to their changelogs, the producer flushes (outputs, repartition and
changelog records acknowledged), the stores apply their changes, the offsets are committed,
and each store records the changelog offset it reflects.

Under exactly-once :meth:`Checkpoint.begin` opens the transaction, :meth:`Checkpoint.commit`
sends the changelogs and the offsets into it (``send_offsets_to_transaction``) and commits it,
and :meth:`Checkpoint.abort` aborts it (the runner then rewinds every task).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

from strom.errors import CommitError, FlushTimeoutError, GroupFencedError
from strom.log.protocols import Consumer, Producer
from strom.log.types import Record, TopicPartition
from strom.runtime.task import Task
from strom.sinks.base import Sink

if TYPE_CHECKING:
    from strom.runtime.state_tasks import StateTasks

Guarantee = Literal["at-least-once", "at-most-once", "exactly-once"]

log = logging.getLogger("strom.runtime")


class Checkpoint:
    """Commits the progress of a set of tasks, according to a delivery guarantee.

    Args:
        consumer: commits the offsets.
        producer: its outputs are flushed before a commit.
        sinks: flushed before a commit.
        guarantee: ``"at-least-once"`` or ``"at-most-once"``.
    """

    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        sinks: Sequence[Sink],
        guarantee: Guarantee,
        *,
        state: StateTasks | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._sinks = tuple(sinks)
        self._state = state
        self._commit_first = guarantee == "at-most-once"
        self.transactional = guarantee == "exactly-once"
        self.in_transaction = False
        """True while the exactly-once transaction is open."""
        self.dirty = False
        """True when records were processed since the last checkpoint (set by the runner)."""

    def begin(self) -> None:
        """Exactly-once: open the transaction the next outputs go into."""
        if self.transactional and not self.in_transaction:
            self._producer.begin_transaction()
            self.in_transaction = True

    def abort(self, timeout: float) -> None:
        """Exactly-once: abort the open transaction (nothing of it becomes visible). The
        caller rewinds every task to its last commit and opens the next one."""
        if self.transactional and self.in_transaction:
            self.in_transaction = False
            self.dirty = False
            self._producer.abort_transaction(timeout)

    def use(self, producer: Producer) -> None:
        """Send with ``producer`` from now on (a new transactional producer after a fatal
        error of the old one)."""
        self._producer = producer
        self.in_transaction = False

    def use_consumer(self, consumer: Consumer) -> None:
        """Commit through ``consumer`` from now on (a new one after this member was fenced)."""
        self._consumer = consumer

    def _next_offsets(self, tasks: list[Task], exact: bool) -> dict[TopicPartition, int]:
        """The offsets to commit: after each task's last processed record, or the consumer's
        position when it is further (it has read past transaction markers, which are not
        records: without this a partition written transactionally would show a lag of one
        forever). ``exact``: the tasks' own offsets only (records after them were returned
        but not processed)."""
        offsets: dict[TopicPartition, int] = {}
        position = self._consumer.position
        for task in tasks:
            if not task.pending:
                continue
            if exact:
                offsets[task.tp] = task.next_offset
                continue
            at = position(task.tp)
            offsets[task.tp] = at if at is not None and at > task.next_offset else task.next_offset
        return offsets

    def _commit_transaction(
        self, tasks: list[Task], timeout: float, exact: bool
    ) -> dict[TopicPartition, int]:
        """Exactly-once: changelogs and offsets into the transaction, then commit it."""
        for sink in self._sinks:
            sink.flush()  # sinks outside the log cannot join the transaction: at least once
        state = self._state
        if state is not None:
            state.prepare(self._producer)
        offsets = self._next_offsets(tasks, exact)
        if offsets:
            # Outputs of a partition this member no longer owns must not commit without their
            # offsets (the owner reads the records again): the whole transaction is aborted.
            owned = set(self._consumer.assignment())
            gone = sorted(tp for tp in offsets if tp not in owned)
            if gone:
                names = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in gone)
                raise GroupFencedError(
                    f"not committing the transaction: it holds work of {names}, which this "
                    "member no longer owns; it is aborted and the records are read again"
                )
            self._producer.send_offsets_to_transaction(
                offsets, self._consumer.group_metadata(), timeout
            )
        self._producer.commit_transaction(timeout)
        self.in_transaction = False
        self.dirty = False
        if state is not None:
            state.commit()
        for task in tasks:
            if task.tp in offsets:
                task.base = offsets[task.tp]
        if state is not None:
            state.write_checkpoints()
        log.debug("committed transaction with %s", offsets)
        self.begin()
        return offsets

    def before_batch(
        self, records: Sequence[Record], tasks: dict[tuple[str, int], Task]
    ) -> CommitError | None:
        """Called with each polled batch before it is processed.

        At-most-once commits the batch's offsets here, so no record is processed twice. When
        that commit fails the batch must not be processed: the error is returned (and the
        runner puts the batch back); None means go on.
        """
        if not self._commit_first or not records:
            return None
        ends: dict[tuple[str, int], int] = {}
        for record in records:
            ends[record.topic, record.partition] = record.offset + 1
        try:
            self._consumer.commit(
                {TopicPartition(topic, partition): end for (topic, partition), end in ends.items()}
            )
        except CommitError as exc:
            return exc
        for tp, end in ends.items():
            task = tasks.get(tp)
            if task is not None:
                task.base = end
        return None

    def commit(
        self, tasks: Iterable[Task], timeout: float, *, exact: bool = False
    ) -> dict[TopicPartition, int]:
        """Make processed work durable: flush sinks and producer, then commit offsets.

        Returns the committed offsets. Raises what the sinks, the producer or the consumer
        raise (SinkBusyError, DeliveryError, CommitError...); then nothing is committed and
        the tasks keep their pending offsets.
        """
        tasks = list(tasks)
        if not self.dirty and not any(t.pending for t in tasks):
            return {}
        if self.transactional:
            return self._commit_transaction(tasks, timeout, exact)
        for sink in self._sinks:
            sink.flush()
        state = self._state
        if state is not None:
            state.prepare(self._producer)
        try:
            self._producer.flush(timeout)
        except FlushTimeoutError:
            # The changelog records are still queued and will be delivered: the stores keep
            # their changes (the offsets wait for the next checkpoint).
            if state is not None:
                state.commit()
            raise
        if state is not None:
            state.commit()
        self.dirty = False
        offsets = self._next_offsets(tasks, exact)
        if offsets and not self._commit_first:
            # Never commit for a partition another member owns (it would move that member's
            # progress): only what is assigned to this consumer now.
            owned = set(self._consumer.assignment())
            offsets = {tp: offset for tp, offset in offsets.items() if tp in owned}
        if self._commit_first or not offsets:
            # At-most-once committed before processing.
            for task in tasks:
                if task.next_offset >= 0:
                    task.base = max(task.base, task.next_offset)
            if state is not None:
                state.write_checkpoints()
            return {}
        self._consumer.commit(offsets, timeout=timeout)
        for task in tasks:
            if task.tp in offsets:
                task.base = offsets[task.tp]
        if state is not None:
            state.write_checkpoints()
        log.debug("committed %s", offsets)
        return offsets
