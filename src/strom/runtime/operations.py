"""Error policies, dead letters, metrics and health of a running application, in one object
the runner calls at a handful of points of its loop.

=============================  ===============================================================
runner                         :class:`Operations`
=============================  ===============================================================
``start()``                    :meth:`~Operations.start`: create the dead-letter topics, start
                               the HTTP endpoint (when enabled)
before each poll               :meth:`~Operations.before_poll`: resume partitions whose retry
                               wait is over, sample consumer lag (every ``lag_interval_ms``),
                               heartbeat
after each batch               :meth:`~Operations.batch_done`: records in per source and per
                               step (from :attr:`~Operations.counters`), batch and step time,
                               end-to-end latency; :meth:`~Operations.settle` while retries
                               are pending
a record failed                :meth:`~Operations.on_failure`: the error policy's response;
                               :meth:`~Operations.requeued` for records put back by a retry
after a commit                 :meth:`~Operations.committed`
rebalance callbacks            :meth:`~Operations.assigned` / :meth:`~Operations.revoked`
``close()``                    :meth:`~Operations.close`
=============================  ===============================================================

Only failures located at a step go through the policies: a user function raising
(:class:`~strom.errors.ProcessingError` with its ``step``), an output a ``to`` (or a
repartitioning ``key_by``) cannot serialize (:class:`~strom.errors.SerializationError` with
its ``step``), and a record whose value cannot be decoded (step ``deserialize:<topic>``).
Anything else — the log refusing a write — stops the application.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from strom.dead_letter import DeadLetterWriter, ensure_topics
from strom.error_policies import (
    Clock,
    ErrorHandler,
    ErrorPolicy,
    ErrorResponse,
    deserialize_step,
    fail,
    system_clock_ms,
)
from strom.errors import ProcessingError, SerializationError, StromError
from strom.failures import FailureTracker
from strom.log.protocols import Admin, Consumer, Producer
from strom.log.types import Record, TopicPartition
from strom.ops.health import Health
from strom.ops.lag_sampler import LagSampler
from strom.ops.metrics import Metrics
from strom.ops.server import OpsServer
from strom.runtime.functions.base import StepCounters

SOURCE_STEP_PREFIX = "source:"
"""Records read from topic T are counted as ``records_in`` of step ``source:T``."""


def failed_step(error: BaseException, record: Record) -> str | None:
    """The step a failure belongs to, or None when it is not a record's fault.

    Example:
        >>> from strom.log import Record
        >>> r = Record("orders", 0, 1, None, b"x", 0)
        >>> failed_step(ProcessingError("boom", step="price"), r)
        'price'
        >>> failed_step(SerializationError("cannot serialize", step="out"), r)
        'out'
        >>> failed_step(SerializationError("bad", topic="orders", offset=1), r)
        'deserialize:orders'
        >>> failed_step(OSError("disk"), r) is None
        True
    """
    if isinstance(error, ProcessingError | SerializationError) and error.step is not None:
        return error.step  # a user function raised, or an output could not be serialized
    if (
        isinstance(error, SerializationError)
        and error.topic == record.topic
        and error.offset == record.offset
    ):
        # The runner locates decoding failures of the input record (and only those).
        return deserialize_step(record.topic)
    return None


class Operations:
    """Error handling and observability of one running application.

    Args:
        app: application name (``app`` label, ``strom.error.app`` header).
        on_error: the app-wide error policy.
        step_policies: per-step overrides (``on_error=`` of the steps).
        on_deserialization_error: policy for undecodable input records (default: on_error).
        metrics_port: serve ``/metrics``, ``/health``, ``/ready`` on this port (0: a free
            one); None: no endpoint.
        metrics_host: the endpoint's interface.
        lag_interval_ms: sample the consumer lag at most this often.
        step_timing: time each step's work (sampled; see
            :class:`~strom.runtime.functions.base.StepCounter`).
        stall_timeout_ms: ``/health`` fails when the loop has not polled for this long.
        clock: epoch ms now.
    """

    def __init__(
        self,
        app: str,
        *,
        on_error: ErrorPolicy | None = None,
        step_policies: Mapping[str, ErrorPolicy] | None = None,
        on_deserialization_error: ErrorPolicy | None = None,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        lag_interval_ms: int = 10_000,
        step_timing: bool = False,
        stall_timeout_ms: int | None = None,
        clock: Clock = system_clock_ms,
    ) -> None:
        self.app = app
        self.handler = ErrorHandler(
            default=on_error if on_error is not None else fail(),
            steps=dict(step_policies or {}),
            deserialization=on_deserialization_error,
            clock=clock,
        )
        self.metrics = Metrics(app)
        self.health = Health(clock=clock, stall_timeout_ms=stall_timeout_ms)
        self.server = (
            OpsServer(self.metrics, self.health, host=metrics_host, port=metrics_port)
            if metrics_port is not None
            else None
        )
        self.counters = StepCounters(timing=step_timing)
        """The compiled steps' counters (give them to ``compile_plan``); published per batch."""
        self._clock = clock
        self._lag_interval_ms = lag_interval_ms
        self._tracker: FailureTracker | None = None
        self._lag: LagSampler | None = None
        self._polled = False
        self._single_source = False
        self._requeued: dict[str, int] = {}
        self._restored: dict[int, int] = {}

    @property
    def tracker(self) -> FailureTracker:
        """The failure bookkeeping (after :meth:`start`)."""
        if self._tracker is None:
            raise StromError("Operations.start() was not called")
        return self._tracker

    def start(
        self,
        admin: Admin,
        producer: Producer,
        consumer: Consumer,
        *,
        sources: Sequence[str] = (),
    ) -> None:
        """Create missing dead-letter topics, wire the writer, start the endpoint.

        ``sources``: the topics the consumer reads; with exactly one, batches are counted
        without looking at each record.
        """
        self._single_source = len(sources) == 1
        ensure_topics(admin, self.handler.dead_letter_topics())
        writer = DeadLetterWriter(producer, app=self.app, clock=self._clock)
        self._tracker = FailureTracker(
            self.handler, dead_letters=writer, metrics=self.metrics, clock=self._clock, app=self.app
        )
        self._lag = LagSampler(
            consumer, self.metrics, interval_ms=self._lag_interval_ms, clock=self._clock
        )
        if self.server is not None:
            self.server.start()

    # -- the loop -------------------------------------------------------------------------

    def before_poll(self, consumer: Consumer, *, resume: bool = True) -> None:
        """Resume partitions whose retry wait is over (unless ``resume`` is False: the runner
        holds every partition paused for back-pressure), sample lag, beat the heart."""
        tracker = self._tracker
        if tracker is not None and resume:
            due = tracker.due()
            if due:
                held = set(consumer.assignment())
                consumer.resume([tp for tp in due if tp in held])
        if self._lag is not None:
            self._lag.maybe_sample()
        self.health.heartbeat()

    def poll_timeout(self, timeout: float) -> float:
        """``timeout``, shortened so a poll does not outlast the next retry's wait."""
        due = self._tracker.next_due_ms() if self._tracker is not None else None
        if due is None:
            return timeout
        return max(0.0, min(timeout, (due - self._clock()) / 1000))

    def waiting(self) -> set[TopicPartition]:
        """Partitions paused until a retry is due (keep them paused when resuming others)."""
        return set(self._tracker.waiting()) if self._tracker is not None else set()

    def batch_done(
        self,
        records: Sequence[Record],
        seconds: float,
        timestamps: Sequence[int] | None = None,
    ) -> None:
        """A polled batch was processed: count it per source topic, publish the steps'
        counters, the batch's time, and the end-to-end latency (now - record timestamp) of
        ``timestamps`` — the runner gives the last record of each partition it processed in the
        batch (default: the batch's last record), a bounded sample per batch."""
        if not self._polled:
            self._polled = True
            self.health.running()
        self.publish_steps()
        if not records:
            return
        last = records[-1]
        if self._single_source:
            per_topic = {last.topic: len(records)}
        else:
            # C-level list building and counting: far cheaper than a dict update per record.
            topics = [r.topic for r in records]
            per_topic = {t: topics.count(t) for t in set(topics)}
        if self._requeued:
            for topic, count in self._requeued.items():
                per_topic[topic] = per_topic.get(topic, 0) - count
            self._requeued.clear()
        metrics = self.metrics
        for topic, count in per_topic.items():
            metrics.step(SOURCE_STEP_PREFIX + topic).processed(records_in=count, records_out=count)
        metrics.batch(records=len(records), seconds=seconds)
        metrics.observe_end_to_end(self._clock(), timestamps or (last.timestamp,))

    def publish_steps(self) -> None:
        """Add what each step counted since the last call to its Prometheus series: records
        in and out, and (with step timing) one processing-time observation per step that saw
        records. O(steps), never per record."""
        metrics = self.metrics
        timing = self.counters.timing
        for counter in self.counters:
            records_in, records_out, ns = counter.take()
            if records_in or records_out:
                metrics.step(counter.name).processed(
                    records_in=records_in,
                    records_out=records_out,
                    seconds=ns / 1e9 if timing and records_in else None,
                )

    def idle(self) -> None:
        """A poll returned nothing (the application is up and has nothing to do)."""
        if not self._polled:
            self._polled = True
            self.health.running()

    def on_failure(self, error: BaseException, record: Record) -> ErrorResponse | None:
        """Apply the error policy to ``record`` failing with ``error``: dead-letter, count,
        log. Returns the response for the runner to act on, or None when the failure is not
        covered by policies (the runner stops)."""
        step = failed_step(error, record)
        if step is None:
            return None
        cause = error.__cause__ if isinstance(error, ProcessingError) and error.__cause__ else error
        return self.tracker.failed(record, step, cause)

    def requeued(self, topic: str, count: int) -> None:
        """``count`` polled records of ``topic`` were put back unprocessed (they follow a
        record that waits for a retry); they are counted when they are read again."""
        self._requeued[topic] = self._requeued.get(topic, 0) + count

    @property
    def retries_pending(self) -> bool:
        """True while some record is being retried (then call :meth:`settle` after batches)."""
        return self._tracker is not None and self._tracker.pending

    def settle(self, next_offsets: Mapping[TopicPartition, int]) -> None:
        """After a batch: forget the attempts of retried records that went through."""
        if self._tracker is not None:
            self._tracker.settle(next_offsets)

    def use_consumer(self, consumer: Consumer) -> None:
        """Sample the lag of ``consumer`` from now on (a new one after a fence)."""
        if self._lag is not None:
            self._lag = LagSampler(
                consumer, self.metrics, interval_ms=self._lag_interval_ms, clock=self._clock
            )

    def use_producer(self, producer: Producer) -> None:
        """Write dead letters with ``producer`` from now on (a replaced transactional one)."""
        tracker = self._tracker
        if tracker is not None and tracker.dead_letters is not None:
            tracker.dead_letters.use(producer)

    def client_errors(self, **clients: object) -> None:
        """Publish the errors the log's clients went on after (``survived_errors`` of the
        Kafka clients; other backends have none)."""
        for name, client in clients.items():
            counts = getattr(client, "survived_errors", None)
            if counts:
                self.metrics.client_errors_seen(name, counts)

    def state(self, tasks: Iterable[Any]) -> None:
        """Publish the numbers of the stateful tasks: late records per step (since the last
        call), and each store partition's entries and bytes on disk."""
        metrics = self.metrics
        for task in tasks:
            for node, holder in task.operators.items():
                if holder.late:
                    metrics.late_records.labels(self.app, node.name).inc(holder.late)
                    holder.late = 0
            for name, store in task.stores.items():
                if store.closed:
                    continue
                m = store.metrics()
                partition = str(task.partition)
                metrics.store_entries.labels(self.app, name, partition).set(m.approximate_count)
                if m.disk_bytes is not None:
                    metrics.store_bytes.labels(self.app, name, partition).set(m.disk_bytes)

    def committed(self, started: float) -> None:
        """A checkpoint commit that began at ``time.monotonic()`` == ``started`` finished."""
        self.metrics.committed(time.monotonic() - started)

    # -- rebalances -----------------------------------------------------------------------

    def assigned(self, partitions: Iterable[TopicPartition], *, restored: bool = True) -> None:
        """Partitions were assigned; ``restored``: they have no state to restore first."""
        tps = list(partitions)
        self.metrics.rebalanced("assigned", tps)
        self.health.assigned(tps)
        if restored:
            self.health.restored(tps)

    def restoring(self, task: object, restored: int, remaining: int) -> None:
        """Restore progress of a stateful task (records applied so far, records left)."""
        stores = getattr(task, "stores", {})
        partition = str(getattr(task, "partition", ""))
        metrics = self.metrics
        for name in stores:
            metrics.restore_remaining.labels(self.app, name, partition).set(remaining)
        last = self._restored.get(id(task), 0)
        if restored > last and stores:
            metrics.restore_records.labels(self.app, next(iter(stores))).inc(restored - last)
            self._restored[id(task)] = restored

    def revoked(self, partitions: Iterable[TopicPartition], *, lost: bool = False) -> None:
        """Partitions were revoked (or lost): drop their retry state, gauges and health."""
        tps = list(partitions)
        self.metrics.rebalanced("lost" if lost else "revoked", tps)
        self.health.revoked(tps)
        if self._tracker is not None:
            self._tracker.forget(tps)

    def set_assigned(self, count: int) -> None:
        """The number of partitions now held."""
        self.metrics.set_assigned(count)

    # -- shutdown -------------------------------------------------------------------------

    def stopping(self) -> None:
        """Shutdown began."""
        self.health.stopping()

    def failed(self, error: BaseException) -> None:
        """The application stops on ``error`` (what its steps counted is published)."""
        self.publish_steps()
        self.health.failed(error)

    def close(self) -> None:
        """Shutdown finished: stop the endpoint."""
        self.health.stopped()
        if self.server is not None:
            self.server.close()
