"""The stateful tasks of one runner: created on assignment, restored by a consumer of their
own, checkpointed with the offsets, advanced by the wall clock, closed on revoke.

Restore runs inside the processing loop, a bounded batch per iteration, so that tasks that
are running keep processing while others restore. A task's input partitions stay paused
until every changelog partition of its stores has been read up to the end offset it had when
the task was created.

The checkpoint hooks follow the order of ``STATE_AND_TIME.md``: the stores' changes are sent
to their changelogs (:meth:`StateTasks.prepare`) before the producer flush, applied to the
stores once flushed (:meth:`StateTasks.commit`), and each store's local checkpoint (the
changelog offset it reflects) is written after the input offsets are committed
(:meth:`StateTasks.write_checkpoints`). A rewind (:meth:`StateTasks.rollback`) drops what was
not committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from strom.context import Slot
from strom.errors import StromError
from strom.log.protocols import Consumer, Log, Producer
from strom.log.types import Record, RecordMetadata, TopicPartition, make_record
from strom.runtime.global_tables import GlobalTables
from strom.runtime.plan import Plan
from strom.runtime.settings import Settings
from strom.runtime.state_task import StateTask

log = logging.getLogger("strom.runtime")

_RESTORE_BATCH = 10_000
_STALL = 1.0
"""Seconds without progress after which a changelog partition's restore asks whether only
unreadable offsets (transaction markers) remain."""


class StateTasks:
    """Every :class:`~strom.runtime.state_task.StateTask` of one runner.

    Args:
        plan: the application's plan.
        settings: state backend, state directory, idle timeout.
        log_: the log (for the restore consumer).
        slot: the runner's record slot.
        isolation: how the restore consumer reads changelogs.
    """

    def __init__(
        self,
        plan: Plan,
        settings: Settings,
        log_: Log,
        slot: Slot,
        *,
        isolation: str = "read_uncommitted",
    ) -> None:
        self._plan = plan
        self.plan = plan
        """The application's plan."""
        self._settings = settings
        self._log = log_
        self._slot = slot
        self._isolation = isolation
        self.tasks: dict[tuple[str, int], StateTask] = {}
        self._stateful_subtopologies = set(plan.stateful.values())
        self._restorer: Consumer | None = None
        self._restoring: dict[TopicPartition, StateTask] = {}
        self._next: dict[TopicPartition, int] = {}
        """Per changelog partition being restored: the next offset to read."""
        self._restore_progress = time.monotonic()
        self._moved_at: dict[TopicPartition, float] = {}
        self._pending: list[StateTask] = []
        self._next_punctuation = 0.0
        self.standbys: dict[tuple[str, int], StateTask] = {}
        """Warm copies of other processes' tasks (``num_standby_replicas``), by task id."""
        self._standby_consumer: Consumer | None = None
        self._standby_next: dict[TopicPartition, int] = {}
        self._next_standby_checkpoint = 0.0
        self.globals = GlobalTables(log_, plan.global_tables, isolation)
        """The process's global tables."""
        self.restore_listener: Callable[[StateTask, int, int], None] | None = None
        """Called with (task, records restored, records left) after each restore batch."""

    @property
    def state_dir(self) -> Path:
        """Where RocksDB store partitions live (``<state_dir>/<app>/<store>/<partition>``)."""
        return Path(self._settings.state_dir)

    def stateful(self, topic: str) -> bool:
        """True when records of ``topic`` reach a stateful step."""
        return self._plan.subtopology.get(topic) in self._stateful_subtopologies

    def task_for(self, tp: TopicPartition) -> StateTask:
        """The stateful task partition ``tp`` feeds, created (stores opened) on first use; a
        standby copy of it becomes the task, which then restores only what it had not read."""
        sub = self._plan.subtopology[tp.topic]
        task = self.tasks.get((sub, tp.partition))
        standby = self.standbys.pop((sub, tp.partition), None)
        if standby is not None and (task is None or task.closed):
            self._drop_standby_reads(standby)
            for tp_, offset in list(standby.restore_from.items()):
                standby.restore_from[tp_] = self._standby_next.pop(tp_, offset)
            log.info("%r taken over from its standby copy", standby)
            standby.restored_records = 0
            self.tasks[sub, tp.partition] = standby
            self._pending.append(standby)
            return standby
        if task is None or task.closed:
            task = StateTask(
                self._plan,
                sub,
                tp.partition,
                backend=self._settings.state_backend,
                state_dir=self.state_dir,
                slot=self._slot,
            )
            task.open()
            self.tasks[sub, tp.partition] = task
            self._pending.append(task)
        return task

    @property
    def restoring(self) -> bool:
        """True while some task waits for its restore."""
        return bool(self._pending or self._restoring)

    # -- restore ---------------------------------------------------------------------------

    def restore_step(self, timeout: float) -> list[StateTask]:
        """Start the restores of new tasks and read one batch of changelog records; return
        the tasks whose restore finished (ready to start)."""
        done: list[StateTask] = []
        if self._pending:
            done.extend(self._begin(self._pending))
            self._pending = []
        if self._restoring:
            done.extend(self._read(timeout))
        return done

    def _begin(self, tasks: list[StateTask]) -> list[StateTask]:
        restorer = self._consumer()
        ready: list[StateTask] = []
        begun: dict[TopicPartition, int] = {}
        for task in tasks:
            if task.closed:
                continue
            ends = {tp: restorer.watermarks(tp) for tp in task.changelog.values()}
            starts = task.begin_restore(ends)
            for tp in starts:
                self._restoring[tp] = task
            begun.update(starts)
            if not starts:
                ready.append(task)
            else:
                left = sum(task.restoring[tp] - start for tp, start in starts.items())
                log.info("%r restoring %d changelog records", task, left)
        if begun:
            self._next.update(begun)
            now = time.monotonic()
            self._restore_progress = now
            for tp in begun:
                self._moved_at[tp] = now  # a new restore: no stall measured from an old one
            self._reassign()
        return ready

    def _reassign(self) -> None:
        """Assign the restore consumer what is left to restore, each where it got to (and
        not paused: a partition restored before, and paused then, may be restored again)."""
        restorer = self._consumer()
        tps = sorted(self._restoring)
        restorer.assign(tps, at={tp: self._next[tp] for tp in tps})
        restorer.resume(tps)

    def _read(self, timeout: float) -> list[StateTask]:
        restorer = self._consumer()
        records = restorer.poll(_RESTORE_BATCH, timeout)
        by_tp: dict[tuple[str, int], list[Record]] = {}
        for record in records:
            key = (record.topic, record.partition)
            batch = by_tp.get(key)
            if batch is None:
                batch = by_tp[key] = []
            batch.append(record)
        done: list[StateTask] = []
        for (topic, partition), batch in by_tp.items():
            tp = TopicPartition(topic, partition)
            task = self._restoring.get(tp)
            if task is not None:
                task.apply(tp, batch)
                self._next[tp] = max(self._next.get(tp, 0), batch[-1].offset + 1)
        finished: list[TopicPartition] = []
        now = time.monotonic()
        for tp, task in list(self._restoring.items()):
            # The position counts transaction markers the records do not show.
            position = max(self._next.get(tp, 0), restorer.position(tp) or 0)
            if position != self._next.get(tp) or (tp.topic, tp.partition) in by_tp:
                self._moved_at[tp] = now
            self._next[tp] = position
            if position < task.restoring.get(tp, 0) and self._at_end(tp, position, now):
                # Only transaction markers (or an aborted transaction's records) are left:
                # a consumer that seeks onto them gets no record that moves its position.
                position = task.restoring[tp]
            if task.restored_up_to(tp, position):
                done.append(task)
            if tp not in task.restoring:
                del self._restoring[tp]
                del self._next[tp]
                self._moved_at.pop(tp, None)
                finished.append(tp)
        if self.restore_listener is not None:
            for task in {t for t in self._restoring.values()} | set(done):
                left = sum(end - self._next.get(tp, 0) for tp, end in task.restoring.items())
                self.restore_listener(task, task.restored_records, max(left, 0))
        if finished:
            # Paused, not unassigned: reassigning would drop what was fetched for the others.
            restorer.pause(finished)
        now = time.monotonic()
        if records or finished:
            self._restore_progress = now
        elif self._restoring and now - self._restore_progress > 10.0:
            self._restore_progress = now
            log.warning(
                "restore made no progress for 10 s: %s",
                ", ".join(
                    f"{tp.topic}[{tp.partition}] at {self._next.get(tp)} (position "
                    f"{restorer.position(tp)}) of {task.restoring.get(tp)}"
                    for tp, task in self._restoring.items()
                ),
            )
        return list(dict.fromkeys(done))

    def _at_end(self, tp: TopicPartition, position: int, now: float) -> bool:
        """True when ``tp`` gave nothing for a while and nothing was appended since its restore
        began: what lies between the position and the end cannot be restored."""
        if now - self._moved_at.get(tp, now) < _STALL:
            return False
        self._moved_at[tp] = now  # ask the log at most once per stall period
        _, high = self._consumer().watermarks(tp)
        task = self._restoring[tp]
        if high > task.restoring[tp]:
            task.restoring[tp] = high  # still written to (an older owner finishing): wait
            return False
        return True

    def _consumer(self) -> Consumer:
        if self._restorer is None:
            self._restorer = self._log.consumer(
                None,
                auto_offset_reset="earliest",
                isolation_level=self._isolation,  # type: ignore[arg-type]
            )
        return self._restorer

    # -- standby replicas ------------------------------------------------------------------

    def all_tasks(self, partitions: dict[str, int]) -> list[tuple[str, int]]:
        """Every stateful task of the application (given every topic's partition count)."""
        subs = sorted(set(self._plan.stateful.values()))
        return [
            (sub, p)
            for sub in subs
            for p in range(partitions[self._plan.subtopology_topics(sub)[0]])
        ]

    def place_standbys(
        self,
        owned: dict[tuple[str, int], str],
        live: list[str],
        me: str,
        everything: list[tuple[str, int]],
    ) -> None:
        """Keep a standby copy of each task whose owner is followed by this process among
        the next ``num_standby_replicas`` live processes (in id order), and of no other."""
        replicas = self._settings.num_standby_replicas
        wanted: set[tuple[str, int]] = set()
        if replicas > 0 and me in live and len(live) > 1:
            for task_id in everything:
                owner = owned.get(task_id)
                if owner is None or owner == me or owner not in live or task_id in self.tasks:
                    continue
                i = live.index(owner)
                ring = [
                    live[(i + k) % len(live)] for k in range(1, min(replicas, len(live) - 1) + 1)
                ]
                if me in ring:
                    wanted.add(task_id)
        for task_id in set(self.standbys) - wanted:
            self._close_standby(self.standbys.pop(task_id))
        added = [t for t in wanted if t not in self.standbys]
        if not added:
            return
        consumer = self._standby_reader()
        for sub, p in added:
            task = StateTask(
                self._plan,
                sub,
                p,
                backend=self._settings.state_backend,
                state_dir=self.state_dir,
                slot=self._slot,
            )
            try:
                task.open()
            except StromError as exc:
                log.warning("cannot keep a standby copy of %s[%d]: %s", sub, p, exc)
                continue
            for tp in task.changelog.values():
                low, high = consumer.watermarks(tp)
                start = task.restore_from.get(tp)
                if start is None or start > high:
                    if start is not None:
                        task.wipe(next(n for n, t in task.changelog.items() if t == tp), "stale")
                    start = low
                self._standby_next[tp] = max(start, low)
            self.standbys[sub, p] = task
            log.info("keeping a standby copy of %r", task)
        self._reassign_standbys()

    def _reassign_standbys(self) -> None:
        consumer = self._standby_reader()
        tps = sorted(tp for t in self.standbys.values() for tp in t.changelog.values())
        consumer.assign(tps, at={tp: self._standby_next[tp] for tp in tps})

    def poll_standbys(self) -> int:
        """Apply what the changelogs of the standby copies received (non-blocking); their
        local checkpoints are written every commit interval."""
        if not self.standbys or self._standby_consumer is None:
            return 0
        records = self._standby_consumer.poll(_RESTORE_BATCH, 0.0)
        by_tp: dict[TopicPartition, list[Record]] = {}
        for record in records:
            by_tp.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        owners = {tp: t for t in self.standbys.values() for tp in t.changelog.values()}
        for tp, batch in by_tp.items():
            task = owners.get(tp)
            if task is not None:
                task.apply(tp, batch)
                self._standby_next[tp] = batch[-1].offset + 1
        now = time.monotonic()
        if now >= self._next_standby_checkpoint:
            self._next_standby_checkpoint = now + self._settings.commit_interval
            for task in self.standbys.values():
                self._checkpoint_standby(task)
        return len(records)

    def _checkpoint_standby(self, task: StateTask) -> None:
        consumer = self._standby_consumer
        for name, tp in task.changelog.items():
            position = consumer.position(tp) if consumer is not None else None
            at = max(self._standby_next.get(tp, 0), position or 0)
            self._standby_next[tp] = at
            task.stores[name].write_checkpoint(at)

    def _close_standby(self, task: StateTask) -> None:
        self._checkpoint_standby(task)
        self._drop_standby_reads(task)
        for tp in task.changelog.values():
            self._standby_next.pop(tp, None)
        task.close()
        log.info("no longer keeping a standby copy of %r", task)

    def _drop_standby_reads(self, task: StateTask) -> None:
        consumer = self._standby_consumer
        if consumer is None:
            return
        self._checkpoint_standby(task)
        remaining = sorted(
            tp for t in self.standbys.values() if t is not task for tp in t.changelog.values()
        )
        consumer.assign(remaining, at={tp: self._standby_next[tp] for tp in remaining})

    def _standby_reader(self) -> Consumer:
        if self._standby_consumer is None:
            self._standby_consumer = self._log.consumer(
                None,
                auto_offset_reset="earliest",
                isolation_level=self._isolation,  # type: ignore[arg-type]
            )
        return self._standby_consumer

    # -- checkpoint ------------------------------------------------------------------------

    def prepare(self, producer: Producer) -> int:
        """Send every running task's store changes to the changelogs (not yet flushed)."""
        n = 0
        for task in self.tasks.values():
            if task.running and not task.closed:
                n += task.prepare(_sender(producer, task))
        return n

    def commit(self) -> None:
        """The producer flushed the changes: apply them to the stores."""
        for task in self.tasks.values():
            if task.running and not task.closed:
                task.commit_stores()

    def write_checkpoints(self) -> None:
        """The input offsets are committed: record each store's changelog offset locally."""
        for task in self.tasks.values():
            if task.running and not task.closed:
                task.write_checkpoints()

    def rollback(self) -> None:
        """Every task back to its last checkpoint (uncommitted writes dropped)."""
        for task in self.tasks.values():
            if task.running and not task.closed:
                task.rollback()

    # -- time ------------------------------------------------------------------------------

    def punctuate(self, now: float) -> bool:
        """Wall-clock punctuation (at most every 100 ms); True when it ran."""
        idle = self._settings.idle_timeout
        if idle is None or now < self._next_punctuation:
            return False
        self._next_punctuation = now + min(0.1, idle / 4)
        for task in self.tasks.values():
            if task.running and not task.closed:
                task.punctuate(now, idle)
        return True

    def seen(self, state: StateTask, topic: str, now: float) -> None:
        """Input ``topic`` of ``state`` delivered records now (idle tracking)."""
        for holder in state.operators.values():
            holder.time.seen(topic, now)

    # -- revoke and close ------------------------------------------------------------------

    def release(self, partitions: Iterable[TopicPartition], held: Iterable[TopicPartition]) -> None:
        """``partitions`` left this member; close the tasks none of whose inputs are still
        ``held``."""
        still = {(self._plan.subtopology.get(tp.topic), tp.partition) for tp in held}
        for tp in partitions:
            key = (self._plan.subtopology.get(tp.topic, ""), tp.partition)
            task = self.tasks.get(key)
            if task is None or key in still:
                continue
            self._forget(task)

    def _forget(self, task: StateTask) -> None:
        moved = False
        for tp in task.changelog.values():
            moved |= self._restoring.pop(tp, None) is not None
            self._next.pop(tp, None)
            self._moved_at.pop(tp, None)
        if task in self._pending:
            self._pending.remove(task)
        task.close()
        self.tasks.pop((task.subtopology, task.partition), None)
        if moved and self._restorer is not None:
            self._reassign()

    def close(self) -> None:
        """Close every task's stores, the global tables and the restore consumer."""
        self.globals.close()
        for task in list(self.standbys.values()):
            try:
                self._close_standby(task)
            except StromError as exc:
                log.warning("closing the standby copy %r: %s", task, exc)
        self.standbys.clear()
        if self._standby_consumer is not None:
            self._standby_consumer.close()
            self._standby_consumer = None
        for task in list(self.tasks.values()):
            try:
                task.close()
            except StromError as exc:
                log.warning("closing %r: %s", task, exc)
        self.tasks.clear()
        if self._restorer is not None:
            self._restorer.close()
            self._restorer = None


def _sender(
    producer: Producer, task: StateTask
) -> Callable[[str, TopicPartition, bytes, bytes | None, bool], None]:
    send = producer.send

    def send_change(
        name: str, tp: TopicPartition, key: bytes, value: bytes | None, last: bool
    ) -> None:
        if last:

            def delivered(metadata: RecordMetadata | None, error: Exception | None) -> None:
                if metadata is not None and metadata.offset >= 0:
                    task.changelog_next[name] = metadata.offset + 1

            send(tp.topic, value, key, partition=tp.partition, on_delivery=delivered)
        else:
            send(tp.topic, value, key, partition=tp.partition)

    return send_change


def template_record(topic: str, partition: int) -> Record:
    """The record metadata of emissions made outside of any input record (wall-clock
    punctuation): the task's first input partition, no offset."""
    return make_record(topic, partition, -1, None, None, int(time.time() * 1000), ())
