"""The runner: poll a batch, run it through the compiled chains, produce, checkpoint. Repeat.

One runner per application process, single-threaded. One consumer, in the group named after
the application, reads every source and repartition topic; each assigned partition is a
:class:`~strom.runtime.task.Task`. Records of one partition are processed in offset order.

Rebalancing: partitions about to be revoked are checkpointed first (their outputs flushed and
offsets committed) inside the consumer's revoke callback, which runs inside ``poll`` and so
never in the middle of a batch; newly assigned partitions resume from the committed offsets.

:meth:`Runner.step` is one iteration of the loop; :meth:`Runner.run` repeats it until
:meth:`Runner.stop`. ``App.run()`` and :class:`strom.testing.TestDriver` both drive a Runner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from strom.context import NO_RECORD, UNSET, Slot, active
from strom.dsl.graph import Graph
from strom.error_policies import Action
from strom.errors import (
    CommitError,
    DeliveryError,
    FlushTimeoutError,
    MemberFencedError,
    ProcessingError,
    SerializationError,
    SinkBusyError,
    StromError,
)
from strom.log.protocols import Admin, Consumer, Log, Producer
from strom.log.types import Record, TopicPartition
from strom.ops.logging import ContextLogger
from strom.runtime.checkpoint import Checkpoint
from strom.runtime.compile import CompiledSource, compile_source
from strom.runtime.deliveries import DeliveryFailure
from strom.runtime.functions.base import Fn
from strom.runtime.identity import ProcessSlot
from strom.runtime.instances import Instances
from strom.runtime.operations import Operations
from strom.runtime.plan import Plan, build_plan
from strom.runtime.queries import Queries, answer_http
from strom.runtime.settings import Settings
from strom.runtime.state_task import StateTask
from strom.runtime.state_tasks import StateTasks, template_record
from strom.runtime.task import Task
from strom.runtime.topics import prepare_topics

__all__ = ["Runner", "Settings"]

_logger = logging.getLogger("strom.runtime")

# A member fenced more than MAX_FENCES times within FENCE_WINDOW seconds shares its
# group.instance.id with another live process: it stops instead of fencing it back forever.
MAX_FENCES = 3
FENCE_WINDOW = 300.0


class Runner:
    """Runs one application's graph on one log.

    Args:
        graph: the application's operator graph.
        settings: how to run it.
        log: an open log connection; the runner creates its own clients and closes them, the
            log stays open for the caller to close.
        clock: seconds of a monotonic wall clock: what event time follows when inputs go
            quiet (``idle_timeout``); :class:`strom.testing.TestDriver` moves it.
    """

    def __init__(
        self,
        graph: Graph,
        settings: Settings,
        log: Log,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.plan: Plan = build_plan(graph)
        self._log = log
        self._admin: Admin | None = None
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._checkpoint: Checkpoint | None = None
        self._sources: dict[str, CompiledSource] = {}
        self._tasks: dict[tuple[str, int], Task] = {}
        self.slot = Slot()
        """The record being processed (see :func:`strom.context.current`)."""
        self.state: StateTasks | None = (
            StateTasks(
                self.plan,
                settings,
                log,
                self.slot,
                isolation="read_committed"
                if settings.guarantee == "exactly-once"
                else "read_uncommitted",
            )
            if self.plan.stateful
            else None
        )
        """The stateful tasks (None when the application has no stateful step)."""
        # Partitions assigned to a task that restores: paused until it is restored.
        self._restoring: set[TopicPartition] = set()
        self._hold: set[TopicPartition] = set()
        self._fences: list[float] = []  # when this member was fenced (see _rejoin)
        self._stopping = False
        self._failed = False
        self._closed = False
        self._next_checkpoint = 0.0
        self._resume_at = 0.0
        # Set when a checkpoint inside a revoke callback failed: every task re-reads from its
        # last checkpoint before anything else is processed (see _on_revoke).
        self._rewind_after_poll: BaseException | None = None
        # Careful mode (see strom.runtime.deliveries): the offsets to re-read up to, the
        # outputs the log refused, and the producer sending one record per request.
        self._careful: dict[TopicPartition, int] | None = None
        self._refused: list[DeliveryFailure] = []
        self._careful_producer: Producer | None = None
        self._careful_ends: dict[Task, int] = {}
        # Exactly-once: input records whose outputs the log refused, by position.
        self._poison: dict[tuple[str, int, int], DeliveryFailure] = {}
        self._transactional_id: str | None = None
        self._purgeable: dict[TopicPartition, int] = {}
        self._lock = threading.RLock()
        self._queries_waiting = 0
        self.partitions: dict[str, int] = {}
        """The partition count of every topic the application uses (after start)."""
        self.instances: Instances | None = None
        """This process in ``{app}-instances`` (applications with stateful steps)."""
        self.queries: Queries | None = None
        """Queryable state (applications with stateful steps, after start)."""
        self._next_membership = 0.0
        self._ownership_changed = True
        self._next_purge = 0.0
        self._slot_held: ProcessSlot | None = None
        # The timestamp of the batch's last processed record of each partition (latency).
        self._stamps: dict[Task, int] = {}
        self._logger = ContextLogger(_logger, app=settings.name)
        self.operations = Operations(
            settings.name,
            on_error=settings.on_error,
            step_policies=graph.error_policies,
            on_deserialization_error=settings.on_deserialization_error,
            metrics_port=settings.metrics_port,
            metrics_host=settings.metrics_host,
            lag_interval_ms=max(1, round(settings.lag_interval * 1000)),
            step_timing=settings.timing_steps,
            stall_timeout_ms=max(1, round(settings.stall_timeout * 1000)),
        )
        """Error policies, dead letters, metrics and health of this run."""

    @property
    def source_topics(self) -> list[str]:
        """Every topic the application reads (user sources and repartition topics), sorted."""
        return sorted(self.plan.sources)

    @property
    def tasks(self) -> Mapping[tuple[str, int], Task]:
        """The tasks of the partitions currently assigned, by (topic, partition)."""
        return self._tasks

    def start(self) -> None:
        """Prepare the topics, create the clients, compile the graph and join the group."""
        settings = self.settings
        self._admin = self._log.admin()
        self.partitions = prepare_topics(self._admin, self.plan, timeout=settings.shutdown_timeout)
        self._producer = self._new_producer()
        self._consumer = self._new_consumer()
        self._sources = self._compile_stateless(self._producer, None)
        self._checkpoint = Checkpoint(
            self._consumer,
            self._producer,
            [step.sink for step in self.plan.sinks()],
            settings.guarantee,
            state=self.state,
        )
        if self.state is not None:
            self.state.restore_listener = self.operations.restoring
            self.state.globals.load(settings.shutdown_timeout)
        self._checkpoint.begin()
        self._next_checkpoint = time.monotonic() + settings.commit_interval
        self.operations.start(
            self._admin, self._producer, self._consumer, sources=self.source_topics
        )
        if self.state is not None:
            self._start_membership()
        self._subscribe(self._consumer)
        self._logger.info(
            "application %r started (%s): reading %s",
            settings.name,
            settings.guarantee,
            ", ".join(self.source_topics),
        )

    def _new_consumer(self) -> Consumer:
        settings = self.settings
        return self._log.consumer(
            settings.name,
            auto_offset_reset=settings.auto_offset_reset,
            options=settings.consumer_options,
        )

    def _subscribe(self, consumer: Consumer) -> None:
        consumer.subscribe(
            self.source_topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def _rejoin(self, fenced: MemberFencedError) -> None:
        """This member was fenced (static membership: a member with its
        ``group.instance.id`` joined, or the broker, restarted mid-rebalance, holds an older
        member id for it). Its partitions are lost, its open transaction aborted, and a new
        consumer joins with the same id. Fenced again and again, the id is in use by another
        live process: stop, naming it."""
        now = time.monotonic()
        self._fences = [t for t in self._fences if now - t < FENCE_WINDOW] + [now]
        instance = self.settings.consumer_options.get("group.instance.id")
        if len(self._fences) > MAX_FENCES:
            raise MemberFencedError(
                f"fenced {len(self._fences)} times within {FENCE_WINDOW:.0f} s: another live "
                f"process of application {self.settings.name!r} uses group.instance.id="
                f"{instance!r}; give each process its own"
            ) from fenced
        self._logger.warning(
            "this member was fenced (group.instance.id=%r), rejoining with a new consumer: %s",
            instance,
            fenced,
        )
        old = self._consumer
        assert old is not None and self._checkpoint is not None
        held = {TopicPartition(*key) for key in self._tasks} | self._restoring | self._hold
        if held:
            self._on_lost(sorted(held))
        try:
            old.close()
        except StromError as exc:
            self._logger.debug("closing the fenced consumer: %s", exc)
        self._consumer = self._new_consumer()
        self._checkpoint.use_consumer(self._consumer)
        self.operations.use_consumer(self._consumer)
        self._subscribe(self._consumer)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Repeat :meth:`step` until :meth:`stop` is called (or a step raises)."""
        while not self._stopping:
            self.step()

    def stop(self) -> None:
        """Ask :meth:`run` to return after the batch in hand (safe from any thread or a signal
        handler)."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping

    def step(self, timeout: float | None = None) -> int:
        """Poll one batch, process it, checkpoint when due; return the number of records."""
        try:
            with self._lock, active(self.slot):
                return self._step(timeout)
        finally:
            if self._queries_waiting:
                # Locks are not fair: without a pause this loop would take the lock back
                # before a waiting query thread wakes up.
                time.sleep(0.001)

    @contextmanager
    def query_lock(self) -> Iterator[None]:
        """Hold the processing loop between two batches (for queries from other threads)."""
        self._queries_waiting += 1
        acquired = False
        try:
            with self._lock:
                acquired = True
                self._queries_waiting -= 1
                yield
        finally:
            if not acquired:
                self._queries_waiting -= 1

    def _step(self, timeout: float | None) -> int:
        consumer, checkpoint = self._consumer, self._checkpoint
        if consumer is None or checkpoint is None:
            raise StromError("Runner.step() called before start()")
        ops = self.operations
        if self._resume_at and time.monotonic() >= self._resume_at:
            self._resume_at = 0.0
            waiting = ops.waiting()  # partitions waiting for a retry stay paused
            consumer.resume(
                [
                    tp
                    for tp in consumer.assignment()
                    if tp not in waiting and tp not in self._restoring
                ]
            )
        ops.before_poll(consumer, resume=not self._resume_at)
        poll_timeout = self.settings.poll_timeout if timeout is None else timeout
        state = self.state
        try:
            if state is not None:
                state.globals.poll()
                self._membership()
                state.poll_standbys()
            if state is not None and state.restoring:
                for restored in state.restore_step(0.0 if self._running_tasks() else 0.05):
                    self._start(restored)
                if state.restoring:
                    poll_timeout = 0.0
            records = consumer.poll(self.settings.batch_size, ops.poll_timeout(poll_timeout))
            if self._hold:
                records = self._hold_restoring(records)
            if self._rewind_after_poll is not None:
                cause, self._rewind_after_poll = self._rewind_after_poll, None
                self._rewind(records)
                if isinstance(cause, DeliveryError):
                    self._begin_careful(cause)
                records = []
            elif records:
                refused = checkpoint.before_batch(records, self._tasks)
                if refused is not None:
                    # At-most-once: a batch whose offsets could not be committed first is
                    # not processed; it is read again once the group has settled.
                    self._logger.warning(
                        "at-most-once: committing the batch before processing it failed, so "
                        "it is put back and read again: %s",
                        refused,
                    )
                    self._rewind(records)
                    return 0
                started = time.monotonic()
                stamps = self._stamps
                stamps.clear()
                self._process(records)
                ops.batch_done(records, time.monotonic() - started, list(stamps.values()))
                if state is not None:
                    now = self._clock()
                    for task in stamps:
                        if task.state is not None:
                            state.seen(task.state, task.tp.topic, now)
                if ops.retries_pending:
                    ops.settle({task.tp: task.next_offset for task in self._tasks.values()})
            else:
                ops.idle()
            if state is not None and state.punctuate(self._clock()):
                checkpoint.dirty = True
            if self._careful is not None:
                self._maybe_end_careful(caught_up=not records)
            elif time.monotonic() >= self._next_checkpoint:
                self.checkpoint()
        except MemberFencedError as exc:
            try:
                self._rejoin(exc)
            except BaseException as fatal:
                self._failed = True
                ops.failed(fatal)
                raise
            return 0
        except BaseException as exc:
            self._failed = True
            ops.failed(exc)
            raise
        return len(records)

    def checkpoint(self) -> None:
        """Flush outputs and commit the processed offsets now (see :mod:`..checkpoint`).

        What can go wrong, and what happens then:

        * a sink is busy: back-pressure (every partition re-read from the last checkpoint
          after ``retry_after``);
        * the log refused outputs (:class:`~strom.errors.DeliveryError`): nothing is
          committed; every partition is re-read from the last checkpoint in careful mode, which
          finds the input records whose outputs were refused and applies their step's policy;
        * the producer's flush ran out of time (broker down): nothing is committed; the
          records stay queued in the producer and the commit is tried again at the next
          checkpoint;
        * the commit itself failed (a rebalance, the coordinator moving): tried again at the
          next checkpoint.
        """
        assert self._checkpoint is not None
        if self._careful is not None:
            self._maybe_end_careful(caught_up=True)  # ends with a checkpoint
            return
        self.operations.client_errors(consumer=self._consumer, producer=self._producer)
        if self.state is not None:
            self.operations.state(t for t in self.state.tasks.values() if t.running)
        transactional = self._checkpoint.transactional
        try:
            started = time.monotonic()
            committed = self._checkpoint.commit(
                self._tasks.values(), self.settings.shutdown_timeout
            )
            if committed:
                self.operations.committed(started)
                self._purge(committed)
        except SinkBusyError as busy:
            self._back_pressure(busy, ())
        except DeliveryError as refused:
            self._rewind(())
            self._begin_careful(refused)
        except FlushTimeoutError as exc:
            if transactional:
                self._abort(exc)
            else:
                self._logger.warning("not committing yet: %s", exc)
        except CommitError as exc:
            if transactional:
                self._abort(exc)
            else:
                # Usually a rebalance under way; the next poll settles it and the offsets are
                # committed at the next checkpoint (or by the new owner re-reading them).
                self._logger.warning("commit failed, retrying at the next checkpoint: %s", exc)
        except StromError as exc:
            if not transactional:
                raise
            # Fenced, timed out, refused: nothing of the transaction is visible.
            self._abort(exc)
        self._next_checkpoint = time.monotonic() + self.settings.commit_interval

    def _purge(self, committed: Mapping[TopicPartition, int]) -> None:
        """Delete what the application has read of its repartition topics (nobody else reads
        them), at most every ``purge_interval``: they do not grow without bound."""
        internal = {t.name for t in self.plan.repartitions.values()}
        for tp, offset in committed.items():
            if tp.topic in internal:
                self._purgeable[tp] = offset
        now = time.monotonic()
        if not self._purgeable or now < self._next_purge or self._admin is None:
            return
        self._next_purge = now + self.settings.purge_interval
        pending, self._purgeable = self._purgeable, {}
        try:
            self._admin.delete_records(pending, timeout=self.settings.shutdown_timeout)
        except StromError as exc:
            self._logger.warning("could not purge the repartition topics: %s", exc)

    # -- careful mode: which input records did the log refuse outputs of? -------------------

    def _begin_careful(self, refused: DeliveryError) -> None:
        """Re-read everything since the last checkpoint (the tasks are rewound already) with
        every output tracked, sent one record per request (so one refused record does not
        take its neighbours in a batch down with it)."""
        self._logger.warning(
            "the log refused outputs (%s); re-reading from the last checkpoint to find the "
            "records they came from",
            refused,
        )
        # The tasks were rewound: the offsets they had reached are where careful mode ends.
        self._careful = {task.tp: until for task, until in self._careful_ends.items()}
        self._careful_ends = {}
        self._refused = []
        assert self._checkpoint is not None and self._producer is not None
        if self._checkpoint.transactional:
            # The re-read goes into a transaction of its own, tracked; see _maybe_end_careful.
            self._recompile(self._producer, self._refused)
            return
        options = dict(self.settings.producer_options)
        if self._log.url.startswith("kafka://"):
            options.update({"batch.num.messages": 1, "linger.ms": 0})
        self._careful_producer = self._log.producer(options=options)
        self._recompile(self._careful_producer, self._refused)

    def _maybe_end_careful(self, *, caught_up: bool) -> None:
        """Leave careful mode once every task re-read what it had read before (or the
        partitions went quiet): apply the error policies of the refused records' steps."""
        careful = self._careful
        assert careful is not None and self._producer is not None
        behind = [
            tp
            for tp, until in careful.items()
            if (task := self._tasks.get((tp.topic, tp.partition))) is not None
            and task.next_offset < until
        ]
        if behind and not caught_up:
            return
        assert self._checkpoint is not None
        if self._checkpoint.transactional:
            self._end_careful_transaction()
            return
        producer, self._careful_producer = self._careful_producer, None
        try:
            if producer is not None:
                try:
                    producer.flush(self.settings.shutdown_timeout)
                except DeliveryError:
                    if not self._refused:
                        raise  # a refusal no step is known for: stop
                finally:
                    producer.close(1.0)
        finally:
            self._careful = None
            self._recompile(self._producer, None)
        refused, self._refused = self._refused, []
        refused.sort(key=lambda f: (f.record.topic, f.record.partition, f.record.offset))
        for failure in refused:
            self._refused_output(failure)
        self.checkpoint()

    def _end_careful_transaction(self) -> None:
        """Exactly-once careful mode: commit the re-read; if the log refuses outputs again,
        abort, and remember the input records they came from: when read again, each gets its
        step's policy instead of being processed (so the next transaction holds no output
        the log refuses)."""
        assert self._checkpoint is not None and self._producer is not None
        self._careful = None
        try:
            self._checkpoint.commit(self._tasks.values(), self.settings.shutdown_timeout)
        except DeliveryError as exc:
            refused, self._refused = self._refused, []
            if not refused:
                raise  # a refusal no step is known for: stop
            self._poison.update(
                {(f.record.topic, f.record.partition, f.record.offset): f for f in refused}
            )
            self._recompile(self._producer, None)
            self._abort(exc)
            return
        except StromError as exc:
            self._recompile(self._producer, None)
            self._abort(exc)
            return
        self._refused = []
        self._recompile(self._producer, None)
        self._next_checkpoint = time.monotonic() + self.settings.commit_interval

    def _refused_output(self, failure: DeliveryFailure) -> None:
        """Apply the policy of the step whose output for ``failure.record`` was refused."""
        record = failure.record
        task = self._tasks.get((record.topic, record.partition))
        if task is None or task.next_offset <= record.offset:
            return  # revoked since, or re-read anyway (a retry rewound it)
        error = ProcessingError(
            f"step {failure.step!r} wrote an output the log refused: {failure.error}",
            step=failure.step,
        )
        error.__cause__ = failure.error
        response = self.operations.on_failure(error, record)
        if response is None or response.action is Action.FAIL:
            self._stop_at(error, record)
        if response.action is Action.RETRY:
            assert self._consumer is not None
            self._consumer.seek(task.tp, record.offset)
            self._consumer.pause([task.tp])
            task.next_offset = record.offset

    def _recompile(self, producer: Producer, failures: list[DeliveryFailure] | None) -> None:
        self._sources = self._compile_stateless(producer, failures)
        if self.state is not None:
            for state in self.state.tasks.values():
                state.memo.clear()
                for holder in state.operators.values():
                    holder.downstream = None
        for task in self._tasks.values():
            if task.state is None:
                task.chain = self._sources[task.tp.topic].chain
            elif task.state.running:
                self._compile_task(task, producer)

    def _process(self, records: Sequence[Record]) -> None:
        """Run ``records`` through their chains; after a failure that the step's error
        policy lets pass (skip, dead letter, retry), go on with the records after it."""
        if self._poison:
            records = self._skip_poison(records)
        while records:
            records = self._run(records)

    def _skip_poison(self, records: Sequence[Record]) -> Sequence[Record]:
        """Exactly-once: records whose outputs the log refused in an aborted transaction get
        their step's policy (dead letter, skip...) instead of being processed again."""
        poison = self._poison
        kept: list[Record] = []
        for record in records:
            failure = poison.pop((record.topic, record.partition, record.offset), None)
            if failure is None:
                kept.append(record)
                continue
            if kept:
                self._process(kept)
                kept = []
            task = self._tasks.get((record.topic, record.partition))
            if task is not None:
                task.next_offset = record.offset + 1
                if task.base < 0:
                    task.base = record.offset
            self._refused_output(failure)
        return kept

    def _run(self, records: Sequence[Record]) -> Sequence[Record]:
        """Run ``records`` through their chains; return those left when a failure's policy
        lets processing go on. The hot path: keep it lean."""
        slot = self.slot
        unset = UNSET
        tasks = self._tasks
        task: Task | None = None
        topic = ""
        partition = -1
        chain: Fn = _unreachable
        deserialize: Callable[[bytes | None], Any] = _unreachable
        stamps = self._stamps
        previous: Record | None = None
        record: Record | None = None
        try:
            for record in records:
                if record.partition != partition or record.topic != topic:
                    if previous is not None and task is not None:
                        task.next_offset = previous.offset + 1
                        stamps[task] = previous.timestamp
                    topic = record.topic
                    partition = record.partition
                    task = tasks.get((topic, partition)) or self._adopt(topic, partition)
                    if task.base < 0:
                        task.base = record.offset
                    chain = task.chain
                    deserialize = task.deserialize_value
                    slot.key_serde = task.key_serde
                slot.record = record
                slot.key = unset
                try:
                    value = deserialize(record.value)
                except Exception as exc:
                    raise _undecodable(record, exc) from exc
                chain(value)
                previous = record
            if previous is not None and task is not None:
                task.next_offset = previous.offset + 1
                stamps[task] = previous.timestamp
        except SinkBusyError as busy:
            assert record is not None
            self._back_pressure(busy, records[records.index(record) :])
        except Exception as exc:
            assert record is not None
            return self._on_failure(exc, record, records)
        finally:
            slot.record = NO_RECORD
            assert self._checkpoint is not None
            self._checkpoint.dirty = True
        return ()

    def _adopt(self, topic: str, partition: int) -> Task:
        """A task for a partition that poll returned before its assign callback did."""
        self._on_assign([TopicPartition(topic, partition)])
        return self._tasks[topic, partition]

    # -- stateful tasks ---------------------------------------------------------------------

    def _start_membership(self) -> None:
        """Publish this process in ``{app}-instances`` and serve queryable state."""
        assert self.state is not None
        settings = self.settings
        if self._slot_held is None:
            self._slot_held = ProcessSlot.take(settings.state_dir, settings.name)
        server = self.operations.server
        me = self._slot_held.transactional_id
        self.instances = Instances(self._log, settings.name, me, server.url if server else None)
        self.instances.start(settings.shutdown_timeout)
        self.queries = Queries(
            self.state,
            self.partitions,
            self.query_lock,
            self.instances.view.owner,
            me,
            self.instances.view.endpoints,
        )
        if server is not None:
            queries = self.queries
            server.serve_queries(lambda path, params: answer_http(queries, path, params))

    def _membership(self) -> None:
        """Follow the other processes (about once a second): publish what this one owns
        after a rebalance, place standby copies."""
        instances, state = self.instances, self.state
        if instances is None or state is None:
            return
        now = time.monotonic()
        if now < self._next_membership:
            return
        self._next_membership = now + 1.0
        instances.poll(0)
        if self._ownership_changed:
            self._ownership_changed = False
            instances.publish([t for t, task in state.tasks.items() if not task.closed])
        view = instances.view
        state.place_standbys(
            view.owned(), view.live(), instances.instance, state.all_tasks(self.partitions)
        )

    def _new_producer(self) -> Producer:
        """The application's producer: transactional under exactly-once (its id stable per
        process slot, so a restarted process fences its predecessor's open transaction)."""
        settings = self.settings
        if settings.guarantee != "exactly-once":
            return self._log.producer(options=settings.producer_options)
        options = dict(settings.producer_options)
        if self._log.url.startswith("kafka://"):
            options.setdefault(
                "transaction.timeout.ms", max(1000, round(settings.transaction_timeout * 1000))
            )
        if self._slot_held is None:
            self._slot_held = ProcessSlot.take(settings.state_dir, settings.name)
        self._transactional_id = self._slot_held.transactional_id
        producer = self._log.producer(transactional_id=self._transactional_id, options=options)
        producer.init_transactions(settings.shutdown_timeout)
        self._logger.info("exactly-once: transactional id %r", self._transactional_id)
        return producer

    def _abort(self, why: BaseException | str, unprocessed: Sequence[Record] = ()) -> None:
        """Exactly-once: abort the open transaction, rewind every task to its last commit
        and its state with it, and open the next transaction. A producer that cannot abort
        (fenced, fatal) is replaced."""
        checkpoint = self._checkpoint
        assert checkpoint is not None
        self._logger.warning("aborting the transaction: %s", why)
        try:
            checkpoint.abort(self.settings.shutdown_timeout)
        except StromError as exc:
            self._logger.warning("abort failed (%s); starting a new transactional producer", exc)
            self._replace_producer()
        self._seek_back(unprocessed)
        checkpoint.begin()

    def _replace_producer(self) -> None:
        old = self._producer
        if old is not None:
            try:
                old.close(1.0)
            except StromError as exc:
                self._logger.debug("closing the failed producer: %s", exc)
        self._producer = self._new_producer()
        assert self._checkpoint is not None
        self._checkpoint.use(self._producer)
        self.operations.use_producer(self._producer)
        self._recompile(self._producer, self._refused if self._careful is not None else None)

    def _compile_stateless(
        self, producer: Producer, failures: list[DeliveryFailure] | None
    ) -> dict[str, CompiledSource]:
        state = self.state
        return {
            name: compile_source(
                self.plan,
                name,
                producer,
                self.operations.counters,
                failures=failures,
                slot=self.slot,
            )
            for name in self.plan.sources
            if state is None or not state.stateful(name)
        }

    def _compile_task(self, task: Task, producer: Producer) -> None:
        """(Re)compile the chain of a stateful task's input partition."""
        compiled = compile_source(
            self.plan,
            task.tp.topic,
            producer,
            self.operations.counters,
            failures=self._refused if self._careful is not None else None,
            slot=self.slot,
            state=task.state,
        )
        task.chain = compiled.chain

    def _running_tasks(self) -> bool:
        return any(t.state is None or t.state.running for t in self._tasks.values())

    def _start(self, state: StateTask) -> None:
        """``state`` is restored: build its operators, compile its inputs' chains, resume."""
        inputs = [t for t in self._tasks.values() if t.state is state]
        first = min(
            (t.tp for t in inputs), default=TopicPartition(state.inputs[0], state.partition)
        )
        assert self.state is not None
        state.start(
            self.operations.counters,
            template_record(first.topic, first.partition),
            self.state.globals.cores,
        )
        producer = self._careful_producer or self._producer
        assert producer is not None and self._consumer is not None
        for task in inputs:
            self._compile_task(task, producer)
        resumed = [t.tp for t in inputs if t.tp in self._restoring]
        self._restoring.difference_update(resumed)
        waiting = self.operations.waiting()
        self._consumer.resume([tp for tp in resumed if tp not in waiting])
        self.operations.health.restored(resumed)

    def _hold_restoring(self, records: list[Record]) -> list[Record]:
        """Pause the partitions assigned to restoring tasks (in the poll that just returned);
        put back records of theirs it returned."""
        consumer = self._consumer
        assert consumer is not None
        held, self._hold = self._hold, set()
        held = {tp for tp in held if tp in self._restoring}
        if not held:
            return records
        consumer.pause(sorted(held))
        kept: list[Record] = []
        first: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp in held:
                first.setdefault(tp, record.offset)
            else:
                kept.append(record)
        for tp, offset in first.items():
            consumer.seek(tp, offset)
        return kept

    # -- failures and back-pressure ---------------------------------------------------------

    def _on_failure(
        self, exc: Exception, record: Record, records: Sequence[Record]
    ) -> Sequence[Record]:
        """Apply the error policy of the step that failed on ``record`` (one of ``records``);
        return the records of ``records`` still to process.

        Skip and dead letter: ``record`` counts as processed. Retry: its partition is sought
        back to it and paused until the retry is due (the other partitions go on). Fail, and
        failures no policy covers: :meth:`_stop_at`.
        """
        response = self.operations.on_failure(exc, record)
        if response is None or response.action is Action.FAIL:
            self._stop_at(exc, record)
        task = self._tasks.get((record.topic, record.partition))
        rest = records[records.index(record) + 1 :]
        assert self._checkpoint is not None
        if response.action is Action.RETRY and self._checkpoint.transactional:
            # Outputs the record wrote before it failed are in the open transaction: abort
            # it and re-read everything since the last commit; the record's partition waits
            # for the retry.
            self._rewind(records[records.index(record) :])
            assert self._consumer is not None
            self._consumer.pause([record.topic_partition])
            return ()
        if response.action is Action.RETRY:
            assert self._consumer is not None
            tp = record.topic_partition
            self._consumer.seek(tp, record.offset)
            self._consumer.pause([tp])
            if task is not None:
                task.next_offset = record.offset
            kept = [r for r in rest if r.partition != record.partition or r.topic != record.topic]
            self.operations.requeued(record.topic, len(rest) - len(kept))
            return kept
        if task is not None:
            task.next_offset = record.offset + 1
        return rest

    def _stop_at(self, exc: Exception, record: Record) -> NoReturn:
        """Stop the application on ``record``. Work done before it is checkpointed (outputs
        flushed, offsets committed), so the committed offset of its partition is
        ``record.offset`` and it is read again on restart.
        """
        self._failed = True
        error = _locate(exc, record)
        task = self._tasks.get((record.topic, record.partition))
        if task is not None:
            task.next_offset = record.offset
        try:
            assert self._checkpoint is not None
            if self._checkpoint.transactional:
                # The failed record may have written part of its outputs into the open
                # transaction: nothing of it is committed; a restart re-reads from the last
                # commit.
                self._checkpoint.abort(self.settings.shutdown_timeout)
            else:
                self._checkpoint.commit(
                    self._tasks.values(), self.settings.shutdown_timeout, exact=True
                )
        except Exception as commit_exc:
            self._logger.error("could not commit the work done before the failure: %s", commit_exc)
        where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
        step = getattr(error, "step", None)
        self._logger.error("%s", error, extra={"step": step, **where} if step else where)
        raise error

    def _back_pressure(self, busy: SinkBusyError, unprocessed: Sequence[Record]) -> None:
        """A sink is busy: rewind every partition to its last checkpoint and pause them all
        for ``busy.retry_after`` seconds."""
        consumer = self._consumer
        assert consumer is not None
        self._rewind(unprocessed)
        assignment = consumer.assignment()
        consumer.pause(assignment)
        self._resume_at = time.monotonic() + max(busy.retry_after, 0.0)
        self._logger.warning(
            "sink busy (%s): %d partitions paused for %.1f s, then re-read from the last "
            "checkpoint",
            busy,
            len(assignment),
            busy.retry_after,
        )

    def _rewind(self, unprocessed: Sequence[Record]) -> None:
        """Seek every task back to its last checkpoint, so that what was processed (and
        written) since is processed again: the outputs of that work may be lost, and must
        never be committed past. ``unprocessed``: polled records not processed (the start of
        a partition that had no checkpoint yet). Remembers where each task had got to.
        Exactly-once: the open transaction is aborted first, so nothing is written twice."""
        checkpoint = self._checkpoint
        if checkpoint is not None and checkpoint.transactional:
            self._abort("re-reading from the last commit", unprocessed)
        else:
            self._seek_back(unprocessed)

    def _seek_back(self, unprocessed: Sequence[Record]) -> None:
        consumer = self._consumer
        assert consumer is not None
        first: dict[tuple[str, int], int] = {}
        for record in unprocessed:
            first.setdefault((record.topic, record.partition), record.offset)
        ends: dict[Task, int] = {}
        owned = set(consumer.assignment())
        gone: list[TopicPartition] = []
        for key, task in self._tasks.items():
            if task.tp not in owned:
                gone.append(task.tp)  # its owner reads it again from the last commit
                continue
            target = task.base if task.base >= 0 else first.get(key, -1)
            if target >= 0:
                if task.next_offset > target:
                    ends[task] = task.next_offset
                consumer.seek(task.tp, target)
                task.next_offset = task.base = target
        self._careful_ends = ends
        if self.state is not None:
            self.state.rollback()
        if gone:
            self._drop(gone)
            self._logger.warning("no longer assigned: %s", _names(gone))

    # -- rebalance callbacks (they run inside consumer.poll) --------------------------------

    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        state = self.state
        held: list[TopicPartition] = []
        for tp in partitions:
            tp = TopicPartition(*tp)
            if tp.topic not in self.plan.sources or (tp.topic, tp.partition) in self._tasks:
                continue
            if state is not None and state.stateful(tp.topic):
                st = state.task_for(tp)
                source = self.plan.sources[tp.topic].topic
                task = Task(tp, CompiledSource(tp.topic, _restoring, source.key, source.value), st)
                self._tasks[tp.topic, tp.partition] = task
                if st.running:
                    assert self._producer is not None
                    self._compile_task(task, self._careful_producer or self._producer)
                else:
                    held.append(tp)
            else:
                self._tasks[tp.topic, tp.partition] = Task(tp, self._sources[tp.topic])
        self._restoring.update(held)
        self._hold.update(held)
        self._ownership_changed = True
        ready = [tp for tp in partitions if tp not in held]
        self.operations.assigned(ready)
        if held:
            self.operations.assigned(held, restored=False)
        self.operations.set_assigned(len(self._tasks))
        self._logger.info("assigned %s", _names(partitions))

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        if not self._failed and self._checkpoint is not None:
            try:
                if self._careful is None:
                    self._checkpoint.commit(self._tasks.values(), self.settings.shutdown_timeout)
            except (StromError, SinkBusyError) as exc:
                # The revoked partitions' new owner re-reads them from the last commit. The
                # outputs of the partitions kept may be lost too (a refused flush forgets its
                # failures, a busy sink drops its buffer): they are re-read from their last
                # checkpoint as soon as the rebalance is over, never committed past.
                self._logger.warning(
                    "could not checkpoint before the rebalance (%s); every partition is re-read "
                    "from its last commit",
                    exc,
                )
                if self._checkpoint.transactional:
                    # Before the partitions move: their work must never be committed.
                    self._abort(exc)
                self._rewind_after_poll = exc
        self._drop(partitions)
        self.operations.revoked(partitions)
        self.operations.set_assigned(len(self._tasks))
        self._logger.info("revoked %s", _names(partitions))

    def _drop(self, partitions: Sequence[TopicPartition]) -> None:
        """Forget the tasks of ``partitions``; close stateful tasks left without inputs."""
        for tp in partitions:
            self._tasks.pop((tp.topic, tp.partition), None)
            self._restoring.discard(TopicPartition(*tp))
            self._hold.discard(TopicPartition(*tp))
        if self.state is not None:
            self.state.release(partitions, [t.tp for t in self._tasks.values()])
        self._ownership_changed = True

    def _on_lost(self, partitions: list[TopicPartition]) -> None:
        checkpoint = self._checkpoint
        if checkpoint is not None and checkpoint.transactional and not self._failed:
            # The open transaction holds work of partitions another member now owns (and
            # re-reads from the last commit): it must never commit, even once this member
            # rejoins with a new generation. The partitions kept go back to their commit.
            self._drop(partitions)
            self._abort(f"partitions lost: {_names(partitions)}")
        else:
            self._drop(partitions)
        self.operations.revoked(partitions, lost=True)
        self.operations.set_assigned(len(self._tasks))
        self._logger.warning("lost %s (another member owns them now)", _names(partitions))

    # -- shutdown ---------------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Checkpoint (unless processing failed), then close the clients within ``timeout``."""
        if self._closed:
            return
        self._closed = True
        self.operations.stopping()
        budget = self.settings.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        first_error: BaseException | None = None
        if self._careful_producer is not None:
            # Careful mode did not finish: its outputs are not known to be stored, so nothing
            # is committed; the next run re-reads from the last checkpoint.
            self._failed = True
            try:
                self._careful_producer.close(max(0.1, deadline - time.monotonic()))
            except Exception as exc:
                self._logger.warning("closing the careful-mode producer: %s", exc)
        if self._checkpoint is not None and not self._failed:
            try:
                self._checkpoint.commit(self._tasks.values(), budget)
            except Exception as exc:
                first_error = exc
                self._logger.error("final checkpoint failed: %s", exc)
            self._failed = True  # the consumer's revoke callback must not commit again
        if self._checkpoint is not None and self._checkpoint.in_transaction:
            try:
                self._checkpoint.abort(max(0.1, deadline - time.monotonic()))
            except Exception as exc:
                self._logger.warning("aborting the last transaction: %s", exc)
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception as exc:
                self._logger.error("closing the consumer failed: %s", exc)
        if self._producer is not None:
            try:
                self._producer.close(max(0.1, deadline - time.monotonic()))
            except Exception as exc:
                first_error = first_error or exc
                self._logger.error("closing the producer failed: %s", exc)
        if self.state is not None:
            self.state.close()
        if self.instances is not None:
            self.instances.close()
        if self._slot_held is not None:
            self._slot_held.release()
            self._slot_held = None
        if self._admin is not None:
            self._admin.close()
        self._tasks.clear()
        self.operations.close()
        self._logger.info("application %r stopped", self.settings.name)
        if first_error is not None:
            raise first_error


def _unreachable(value: Any) -> None:
    raise AssertionError("no task selected")  # the loop selects a task before the first use


def _restoring(value: Any) -> None:
    # Never called: the partitions of a restoring task are paused and their records put back.
    raise StromError("a record reached a stateful task that is still restoring (a bug)")


def _names(partitions: Sequence[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"


def _undecodable(record: Record, exc: Exception) -> SerializationError:
    cause = str(exc) if isinstance(exc, SerializationError) else f"{type(exc).__name__}: {exc}"
    return SerializationError(
        f"cannot deserialize the value: {cause}",
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )


def _locate(exc: Exception, record: Record) -> Exception:
    """``exc`` with the position of the record being processed, ready to be raised."""
    where = f"topic={record.topic!r}, partition={record.partition}, offset={record.offset}"
    if isinstance(exc, ProcessingError) and exc.step is not None and exc.offset is None:
        error: Exception = ProcessingError(
            f"{exc} (record {where}); the application stops: the record's offset is not "
            "committed, so it is processed again after a restart",
            step=exc.step,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        error.__cause__ = exc.__cause__
        return error
    if isinstance(exc, SerializationError) and exc.offset is None:
        message = str(exc)
        if exc.step is not None:
            message += (
                "; the application stops: the record's offset is not committed, so it is "
                "processed again after a restart (or give the step on_error=...)"
            )
        error = SerializationError(
            message,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            step=exc.step,
        )
        error.__cause__ = exc.__cause__ or exc
        return error
    if isinstance(exc, StromError):
        return exc
    error = ProcessingError(
        f"processing record {where} failed: {type(exc).__name__}: {exc}",
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )
    error.__cause__ = exc
    return error
