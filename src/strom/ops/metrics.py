"""Prometheus metrics of one application, in a registry of its own.

Each :class:`Metrics` owns a :class:`prometheus_client.CollectorRegistry`, so several
applications (or tests) in one process never clash, and nothing lands in prometheus-client's
global registry. Every metric carries an ``app`` label.

The recording API is made for the hot path: the runtime updates counters once per *batch*
(``records_in`` += len(batch)), never once per record, and labelled children are looked up once
and cached (:meth:`Metrics.step` returns a handle bound to one step).

========================================  =========  ==========================================
name                                      type       labels
========================================  =========  ==========================================
``strom_records_in_total``                counter    app, step
``strom_records_out_total``               counter    app, step
``strom_step_processing_seconds``         histogram  app, step (one observation per batch)
``strom_batch_processing_seconds``        histogram  app (poll-to-produce time of one batch)
``strom_batch_records``                   histogram  app (records per batch)
``strom_end_to_end_latency_seconds``      histogram  app (now - record timestamp, sampled)
``strom_errors_total``                    counter    app, step, error_type
``strom_retries_total``                   counter    app, step
``strom_skipped_total``                   counter    app, step
``strom_dead_lettered_total``             counter    app, step, topic
``strom_consumer_lag``                    gauge      app, topic, partition
``strom_assigned_partitions``             gauge      app
``strom_commit_duration_seconds``         histogram  app
``strom_commits_total``                   counter    app
``strom_rebalances_total``                counter    app, kind (assigned / revoked / lost)
``strom_client_errors_total``             counter    app, client, error (errors survived)
``strom_late_records_total``              counter    app, step
``strom_state_store_entries``             gauge      app, store, partition
``strom_state_store_bytes``               gauge      app, store, partition
``strom_state_restore_records_total``     counter    app, store
``strom_state_restore_remaining_records`` gauge      app, store, partition
========================================  =========  ==========================================

Example:
    >>> m = Metrics("orders")
    >>> price = m.step("price")
    >>> price.processed(records_in=500, records_out=480, seconds=0.012)
    >>> price.failed("ValueError")
    >>> m.value("strom_records_in_total", step="price")
    500.0
    >>> b"strom_errors_total" in m.exposition()
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from strom.log.types import TopicPartition

RebalanceKind = Literal["assigned", "revoked", "lost"]

_FAST = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_COMMIT = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LATENCY = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)
_BATCH_SIZES = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class StepMetrics:
    """Metric handles bound to one step (labels resolved once).

    Get one from :meth:`Metrics.step`; the runtime keeps it next to the compiled step.
    """

    __slots__ = (
        "_dead",
        "_errors",
        "_in",
        "_metrics",
        "_out",
        "_retries",
        "_seconds",
        "_skipped",
        "name",
    )

    def __init__(self, metrics: Metrics, name: str) -> None:
        app = metrics.app
        self.name = name
        self._metrics = metrics
        self._in = metrics.records_in.labels(app, name)
        self._out = metrics.records_out.labels(app, name)
        self._seconds = metrics.step_seconds.labels(app, name)
        self._retries = metrics.retries.labels(app, name)
        self._skipped = metrics.skipped.labels(app, name)
        self._errors: dict[str, Counter] = {}
        self._dead: dict[str, Counter] = {}

    def processed(self, *, records_in: int, records_out: int, seconds: float | None = None) -> None:
        """One batch went through the step: counts in and out, and its processing time."""
        if records_in:
            self._in.inc(records_in)
        if records_out:
            self._out.inc(records_out)
        if seconds is not None:
            self._seconds.observe(seconds)

    def failed(self, error_type: str, count: int = 1) -> None:
        """``count`` attempts raised ``error_type`` (every failed attempt counts, retries too)."""
        child = self._errors.get(error_type)
        if child is None:
            child = self._metrics.errors.labels(self._metrics.app, self.name, error_type)
            self._errors[error_type] = child
        child.inc(count)

    def retried(self, count: int = 1) -> None:
        """``count`` retries were scheduled."""
        self._retries.inc(count)

    def skipped(self, count: int = 1) -> None:
        """``count`` failed records were dropped by a skip policy."""
        self._skipped.inc(count)

    def dead_lettered(self, topic: str, count: int = 1) -> None:
        """``count`` failed records were written to dead-letter ``topic``."""
        child = self._dead.get(topic)
        if child is None:
            child = self._metrics.dead_lettered.labels(self._metrics.app, self.name, topic)
            self._dead[topic] = child
        child.inc(count)


class Metrics:
    """All metrics of application ``app``, in a registry of their own.

    Args:
        app: the application id (the ``app`` label of every metric).
        registry: where to register; a fresh :class:`~prometheus_client.CollectorRegistry`
            by default.
    """

    def __init__(self, app: str, *, registry: CollectorRegistry | None = None) -> None:
        self.app = app
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.records_in = Counter(
            "strom_records_in", "Records that entered a step.", ["app", "step"], registry=r
        )
        self.records_out = Counter(
            "strom_records_out", "Records a step emitted.", ["app", "step"], registry=r
        )
        self.step_seconds = Histogram(
            "strom_step_processing_seconds",
            "Time a step spent on one batch.",
            ["app", "step"],
            buckets=_FAST,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "strom_batch_processing_seconds",
            "Time from a batch's poll to its last output produced.",
            ["app"],
            buckets=_FAST,
            registry=r,
        )
        self.batch_records = Histogram(
            "strom_batch_records",
            "Records per polled batch.",
            ["app"],
            buckets=_BATCH_SIZES,
            registry=r,
        )
        self.end_to_end = Histogram(
            "strom_end_to_end_latency_seconds",
            "Processing time minus record timestamp of the last record of each batch.",
            ["app"],
            buckets=_LATENCY,
            registry=r,
        )
        self.errors = Counter(
            "strom_errors",
            "Failed attempts, by step and exception type.",
            ["app", "step", "error_type"],
            registry=r,
        )
        self.retries = Counter(
            "strom_retries", "Retries scheduled by error policies.", ["app", "step"], registry=r
        )
        self.skipped = Counter(
            "strom_skipped",
            "Failed records dropped by a skip policy.",
            ["app", "step"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "strom_dead_lettered",
            "Failed records written to a dead-letter topic.",
            ["app", "step", "topic"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "strom_consumer_lag",
            "End offset minus the position of this consumer, per assigned partition.",
            ["app", "topic", "partition"],
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "strom_assigned_partitions",
            "Partitions assigned to this process.",
            ["app"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "strom_commit_duration_seconds",
            "Time of one checkpoint commit (flush included).",
            ["app"],
            buckets=_COMMIT,
            registry=r,
        )
        self.commits = Counter("strom_commits", "Checkpoint commits.", ["app"], registry=r)
        self.client_errors = Counter(
            "strom_client_errors",
            "Errors of the log's clients that the application went on after (a broker "
            "restarting, a coordinator moving), by client and error name.",
            ["app", "client", "error"],
            registry=r,
        )
        self.rebalances = Counter(
            "strom_rebalances",
            "Partition rebalance events, by kind (assigned, revoked, lost).",
            ["app", "kind"],
            registry=r,
        )
        self.store_bytes = Gauge(
            "strom_state_store_bytes",
            "Approximate size of a state store partition.",
            ["app", "store", "partition"],
            registry=r,
        )
        self.restore_records = Counter(
            "strom_state_restore_records",
            "Changelog records applied while restoring state.",
            ["app", "store"],
            registry=r,
        )
        self.restore_remaining = Gauge(
            "strom_state_restore_remaining_records",
            "Changelog records still to restore, per store partition.",
            ["app", "store", "partition"],
            registry=r,
        )
        self.late_records = Counter(
            "strom_late_records",
            "Records that arrived after every window they belong to had closed (dropped, or "
            "written to the step's late topic).",
            ["app", "step"],
            registry=r,
        )
        self.store_entries = Gauge(
            "strom_state_store_entries",
            "Approximate entries of a state store partition.",
            ["app", "store", "partition"],
            registry=r,
        )
        self._steps: dict[str, StepMetrics] = {}
        self._batch_seconds = self.batch_seconds.labels(app)
        self._batch_records = self.batch_records.labels(app)
        self._end_to_end = self.end_to_end.labels(app)
        self._commit_seconds = self.commit_seconds.labels(app)
        self._commits = self.commits.labels(app)
        self._lag: dict[TopicPartition, Gauge] = {}
        self._client_errors: dict[str, dict[str, int]] = {}

    def client_errors_seen(self, client: str, counts: dict[str, int]) -> None:
        """Raise ``strom_client_errors_total`` of ``client`` to the running ``counts``."""
        seen = self._client_errors.setdefault(client, {})
        for error, total in counts.items():
            new = total - seen.get(error, 0)
            if new > 0:
                self.client_errors.labels(self.app, client, error).inc(new)
                seen[error] = total

    def step(self, name: str) -> StepMetrics:
        """The handle of step ``name`` (created once, then cached)."""
        handle = self._steps.get(name)
        if handle is None:
            handle = StepMetrics(self, name)
            self._steps[name] = handle
        return handle

    def batch(self, *, records: int, seconds: float) -> None:
        """One polled batch of ``records`` records was processed in ``seconds``."""
        self._batch_records.observe(records)
        self._batch_seconds.observe(seconds)

    def observe_end_to_end(self, now_ms: int, timestamps: Iterable[int]) -> None:
        """Observe ``now - timestamp`` for each given record timestamp (epoch ms).

        Pass a sample — e.g. the last record of each partition in a batch — not every record.
        """
        for ts in timestamps:
            self._end_to_end.observe(max(0, now_ms - ts) / 1000.0)

    def committed(self, seconds: float) -> None:
        """A checkpoint commit took ``seconds``."""
        self._commit_seconds.observe(seconds)
        self._commits.inc()

    def rebalanced(self, kind: RebalanceKind, partitions: Iterable[TopicPartition]) -> None:
        """A rebalance callback ran; revoked or lost partitions lose their lag gauges."""
        self.rebalances.labels(self.app, kind).inc()
        if kind != "assigned":
            self.forget_partitions(partitions)

    def set_assigned(self, count: int) -> None:
        """This process now holds ``count`` partitions."""
        self.assigned_partitions.labels(self.app).set(count)

    def set_lag(self, lags: Mapping[TopicPartition, int]) -> None:
        """Set the consumer lag of each partition."""
        for tp, lag in lags.items():
            gauge = self._lag.get(tp)
            if gauge is None:
                gauge = self.consumer_lag.labels(self.app, tp.topic, str(tp.partition))
                self._lag[tp] = gauge
            gauge.set(lag)

    def forget_partitions(self, partitions: Iterable[TopicPartition]) -> None:
        """Drop the lag series of partitions no longer assigned (so they do not go stale)."""
        for tp in partitions:
            if self._lag.pop(tp, None) is not None:
                self.consumer_lag.remove(self.app, tp.topic, str(tp.partition))

    def set_store_bytes(self, store: str, partition: int, size: int) -> None:
        """State store ``store``'s partition ``partition`` holds about ``size`` bytes."""
        self.store_bytes.labels(self.app, store, str(partition)).set(size)

    def restored(self, store: str, partition: int, *, records: int, remaining: int) -> None:
        """``records`` changelog records were applied; ``remaining`` are left to restore."""
        if records:
            self.restore_records.labels(self.app, store).inc(records)
        self.restore_remaining.labels(self.app, store, str(partition)).set(remaining)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format (what ``/metrics`` serves)."""
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float | None:
        """The current value of sample ``name`` with ``labels`` (``app`` is filled in), or None.

        Example:
            >>> m = Metrics("a")
            >>> m.committed(0.01)
            >>> m.value("strom_commits_total"), m.value("strom_commit_duration_seconds_count")
            (1.0, 1.0)
        """
        return self.registry.get_sample_value(name, {"app": self.app, **labels})
