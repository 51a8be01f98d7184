"""One stateful task: the store partitions, operators and event time of one partition of a
subtopology (the topics whose records meet in its stateful steps).

Lifecycle: **restoring** (stores opened; input partitions paused while the restore consumer
reads their changelog partitions up to the end they had when the task was created) →
**running** (operators built over the restored stores, inputs resumed) → **closed** (after
the last checkpoint, on revoke or shutdown; without one when the partitions were lost).

Event time: each stateful step of the task tracks the largest event time seen per input
topic; its watermark is the minimum over the inputs not idle for ``idle_timeout`` (one input:
its largest event time), minus the step's ``lag_ms``. Watermarks only move forward. When every
input has been quiet for ``idle_timeout`` (opt-in), the watermark follows the wall clock from
the last event time seen, so windows close on a quiet stream.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from strom.context import Slot
from strom.dsl import graph as g
from strom.errors import ProcessingError, StateError
from strom.log.types import Record, TopicPartition
from strom.runtime.functions.base import Fn, StepCounter, step_failed
from strom.runtime.operators.base import BuildContext, Emit, Late, Operator, StoreSpec
from strom.runtime.plan import Plan, changelog_topic
from strom.state import open_key_value_store, open_session_store, open_window_store, store_path
from strom.state.protocols import StateStore

log = logging.getLogger("strom.runtime")

NO_TIME = -(2**62)
"""The watermark before any event time was seen."""


class StepTime:
    """Event time of one stateful step in one task (see the module docstring).

    Example:
        >>> t = StepTime(lag_ms=100, inputs=["a"])
        >>> t.observe("a", 5000), t.watermark
        (True, 4900)
        >>> t.observe("a", 4000), t.watermark
        (False, 4900)
    """

    __slots__ = ("_committed", "_idle", "_latest", "_seen_at", "lag", "single", "watermark")

    def __init__(self, *, lag_ms: int, inputs: Sequence[str]) -> None:
        self.lag = lag_ms
        self.single = len(inputs) <= 1
        self._latest: dict[str, int] = dict.fromkeys(inputs, NO_TIME)
        self._seen_at: dict[str, float] = {}
        self._idle: set[str] = set()
        self.watermark = NO_TIME
        self._committed = NO_TIME

    def observe(self, topic: str, timestamp: int) -> bool:
        """An event at ``timestamp`` from input ``topic``; True when the watermark moved."""
        latest = self._latest
        if timestamp <= latest.get(topic, NO_TIME):
            return False
        latest[topic] = timestamp
        if self.single:
            mark = timestamp - self.lag
        else:
            self._idle.discard(topic)
            mark = min(t for name, t in latest.items() if name not in self._idle) - self.lag
        if mark > self.watermark:
            self.watermark = mark
            return True
        return False

    def seen(self, topic: str, now: float) -> None:
        """Input ``topic`` delivered a record at wall time ``now`` (seconds)."""
        self._seen_at[topic] = now

    def quiet(self, now: float, idle_timeout: float) -> int | None:
        """The watermark the wall clock implies when inputs went quiet, or None.

        Inputs quiet for ``idle_timeout`` stop holding the watermark back; when all are,
        event time is taken to advance with the wall clock from the last record.
        """
        if not self._seen_at:
            return None
        quiet = {t for t, at in self._seen_at.items() if now - at >= idle_timeout}
        active = [t for t in self._latest if t not in quiet and self._latest[t] > NO_TIME]
        if active and quiet:
            self._idle = quiet
            mark = min(self._latest[t] for t in active) - self.lag
            return mark if mark > self.watermark else None
        if active or len(quiet) < len(self._seen_at):
            return None
        last = max(self._latest.values())
        if last == NO_TIME:
            return None
        since = now - max(self._seen_at.values())
        mark = last + int((since - idle_timeout) * 1000) - self.lag
        return mark if mark > self.watermark else None

    def restored(self, floor: int | None) -> None:
        """After a restore: the watermark starts at what the stores imply (never lower)."""
        if floor is not None and floor > self.watermark:
            self.watermark = floor
            self._committed = floor

    def commit(self) -> None:
        """A checkpoint: remember the watermark to go back to on a rewind."""
        self._committed = self.watermark

    def rollback(self) -> None:
        """A rewind: event time goes back to the last checkpoint (the records after it are
        read again)."""
        self.watermark = self._committed
        for topic in self._latest:
            self._latest[topic] = min(self._latest[topic], self._committed + self.lag)


class TaskOperator:
    """A stateful step's operator in one task, with its event time and its way downstream."""

    __slots__ = ("downstream", "late", "node", "op", "slot", "template", "time")

    def __init__(
        self, node: g.Stateful, op: Operator, inputs: Sequence[str], slot: Slot, template: Record
    ) -> None:
        self.node = node
        self.op = op
        self.time = StepTime(lag_ms=node.lag_ms, inputs=inputs)
        self.slot = slot
        self.downstream: Fn | None = None
        self.late = 0
        self.template = template

    def emit(self, out: Sequence[Emit]) -> None:
        """Pass ``out`` downstream, each with its key and event time as the record's."""
        slot = self.slot
        record, key = slot.record, slot.key
        base = record if record.topic else self.template
        downstream = self.downstream or _nothing
        try:
            for item in out:
                slot.record = base._replace(timestamp=item.timestamp)
                slot.key = item.key
                downstream(item.value)
        finally:
            slot.record, slot.key = record, key

    def advance(self, watermark: int) -> None:
        """Move the watermark to ``watermark`` (if later) and emit what it closes."""
        t = self.time
        if watermark > t.watermark:
            t.watermark = watermark
        deadline = self.op.deadline
        if deadline is not None and t.watermark >= deadline:
            self.emit(self.op.advance(t.watermark))


def compile_stateful(
    node: g.Stateful,
    holder: TaskOperator,
    slot: Slot,
    counter: StepCounter,
    late: Callable[[Any], None] | None,
    port: int = 0,
) -> Fn:
    """The compiled function of a stateful step in one task (the hot path); ``port``: which
    input of a two-input step (a join) the records come from."""
    step = node.name
    extract = node.timestamp
    op = holder.op
    process = op.process if port == 0 else op.process_right  # type: ignore[attr-defined]
    time_ = holder.time
    observe = time_.observe
    c = counter

    def stateful_(value: Any) -> None:
        c.records_in += 1
        record = slot.record
        if extract is None:
            ts = record.timestamp
        else:
            try:
                ts = int(extract(value))
            except Exception as exc:
                c.dropped += 1
                raise step_failed(step, exc) from exc
        key = slot.current_key()
        if key is None:
            c.dropped += 1
            raise ProcessingError(
                f"step {step!r} groups records by key, and this record has none; give the "
                "records keys (key_by before the step) or drop them (filter)",
                step=step,
            )
        try:
            out = process(key, value, ts, time_.watermark)
        except Exception as exc:
            c.dropped += 1
            raise step_failed(step, exc) from exc
        if out.__class__ is Late:
            c.dropped += 1
            holder.late += 1
            if late is not None:
                late(value)
            if out.outputs:
                holder.emit(out.outputs)
            return
        if observe(record.topic, ts):
            deadline = op.deadline
            if deadline is not None and time_.watermark >= deadline:
                out = [*out, *op.advance(time_.watermark)]
        if out:
            holder.emit(out)  # type: ignore[arg-type]  # not Late: checked above

    return stateful_


def _nothing(value: Any) -> None:
    return None


def _in_order(nodes: list[g.Stateful]) -> list[g.Stateful]:
    """``nodes`` with every node after the stateful nodes upstream of it (a table before
    the joins that look it up)."""
    ranked: dict[g.Node, int] = {}

    def depth(node: g.Node) -> int:
        known = ranked.get(node)
        if known is None:
            known = ranked[node] = 1 + max((depth(p) for p in node.parents), default=0)
        return known

    return sorted(nodes, key=depth)


class StateTask:
    """The stores and operators of partition ``partition`` of one subtopology.

    Args:
        plan: the application's plan.
        subtopology: its name (see :class:`~strom.runtime.plan.Plan`).
        partition: the partition number (of every input topic, store and changelog).
        backend: ``"memory"`` or ``"rocksdb"``.
        state_dir: where RocksDB stores live.
        slot: the runner's record slot.
    """

    def __init__(
        self,
        plan: Plan,
        subtopology: str,
        partition: int,
        *,
        backend: str,
        state_dir: Path,
        slot: Slot,
    ) -> None:
        self.plan = plan
        self.subtopology = subtopology
        self.partition = partition
        self.backend = backend
        self.state_dir = state_dir
        self.slot = slot
        self.inputs = plan.subtopology_topics(subtopology)
        self.nodes = _in_order([n for n, s in plan.stateful.items() if s == subtopology])
        self.stores: dict[str, StateStore] = {}
        self.changelog: dict[str, TopicPartition] = {}
        """The changelog partition of each store."""
        self.specs: dict[str, StoreSpec] = {}
        self.operators: dict[g.Stateful, TaskOperator] = {}
        self.memo: dict[tuple[g.Node, int], Fn] = {}
        """Compiled functions shared by the chains of this task's inputs."""
        self.restoring: dict[TopicPartition, int] = {}
        """Changelog partitions still to restore, with the offset to restore up to."""
        self.restore_from: dict[TopicPartition, int | None] = {}
        """Where each changelog partition's restore starts (None: its beginning)."""
        self.changelog_next: dict[str, int] = {}
        """Per store: the changelog offset after the last record known to be in it."""
        self.restored_records = 0
        self.restore_started = time.monotonic()
        self.closed = False

    @property
    def running(self) -> bool:
        """True once restored."""
        return not self.restoring and bool(self.operators or not self.nodes)

    def __repr__(self) -> str:
        return f"<StateTask {self.subtopology}[{self.partition}]>"

    # -- open and restore ------------------------------------------------------------------

    def open(self) -> None:
        """Open every store partition; note where each one's restore starts."""
        for node in self.nodes:
            for spec in self.plan.stores[node]:
                store = self._open_store(spec)
                if store.recovery.wiped:
                    log.warning(
                        "store %s[%d]: local copy wiped (%s); restoring it from the changelog",
                        spec.name,
                        self.partition,
                        store.recovery.reason,
                    )
                self.stores[spec.name] = store
                self.specs[spec.name] = spec
                tp = TopicPartition(changelog_topic(self.plan.app, spec.name), self.partition)
                self.changelog[spec.name] = tp
                self.restore_from[tp] = store.recovery.checkpoint_offset

    def _open_store(self, spec: StoreSpec) -> StateStore:
        common: dict[str, Any] = {
            "backend": self.backend,
            "state_dir": self.state_dir,
            "app": self.plan.app,
            "changelog_topic": changelog_topic(self.plan.app, spec.name),
        }
        if spec.kind == "key-value":
            return open_key_value_store(spec.name, self.partition, spec.key, spec.value, **common)
        opener = open_window_store if spec.kind == "window" else open_session_store
        return opener(
            spec.name,
            self.partition,
            spec.key,
            spec.value,
            segment_interval=spec.segment_interval,
            **common,
        )

    def wipe(self, name: str, why: str) -> None:
        """Throw the local copy of store ``name`` away and restore it from the beginning."""
        spec = self.specs[name]
        log.warning("store %s[%d]: %s; wiping it", name, self.partition, why)
        self.stores[name].close()
        if self.backend == "rocksdb":
            path = store_path(self.state_dir, self.plan.app, name, self.partition)
            shutil.rmtree(path, ignore_errors=True)
        self.stores[name] = self._open_store(spec)
        self.restore_from[self.changelog[name]] = None

    def begin_restore(
        self, ends: dict[TopicPartition, tuple[int, int]]
    ) -> dict[TopicPartition, int]:
        """Given each changelog partition's (low, high) offsets, decide what to read: returns
        the start offset of every partition that has something to restore."""
        starts: dict[TopicPartition, int] = {}
        for name, tp in self.changelog.items():
            low, high = ends[tp]
            start = self.restore_from.get(tp)
            if start is not None and start > high:
                self.wipe(name, f"its checkpoint ({start}) is past the changelog's end ({high})")
                start = None
            first = low if start is None else max(start, low)
            self.changelog_next[name] = high
            if first < high:
                starts[tp] = first
                self.restoring[tp] = high
        self.restore_started = time.monotonic()
        return starts

    def apply(self, tp: TopicPartition, records: Iterable[Record]) -> None:
        """Changelog records of ``tp`` read by the restore consumer."""
        name = tp.topic[len(self.plan.app) + 1 : -len("-changelog")]
        changes = [(r.key or b"", r.value) for r in records]
        if changes:
            self.restored_records += self.stores[name].restore(changes)

    def restored_up_to(self, tp: TopicPartition, position: int) -> bool:
        """The restore consumer is at ``position`` of ``tp``; True when it is done."""
        end = self.restoring.get(tp)
        if end is not None and position >= end:
            del self.restoring[tp]
        return not self.restoring

    def start(
        self, counters: Any, template: Record, global_tables: Mapping[str, Any] | None = None
    ) -> None:
        """Restored: build the operators over the stores (tables before the joins that look
        them up)."""
        built: dict[Any, Operator] = {}
        context = BuildContext(built, global_tables or {})
        for node in self.nodes:
            names = [s.name for s in self.plan.stores[node]]
            op = node.spec.build({n: self.stores[n] for n in names}, context)
            built[node] = op
            holder = TaskOperator(node, op, self.inputs, self.slot, template)
            holder.time.restored(op.restored_watermark())
            self.operators[node] = holder
        # The restored state is in storage: a later open restores from here, not from where
        # the copy was opened (a standby's last checkpoint, an old local copy).
        for name, store in self.stores.items():
            store.write_checkpoint(self.changelog_next[name])
        log.info(
            "%r restored: %d changelog records in %.2f s",
            self,
            self.restored_records,
            time.monotonic() - self.restore_started,
        )

    # -- checkpoint ------------------------------------------------------------------------

    def prepare(
        self, send: Callable[[str, TopicPartition, bytes, bytes | None, bool], None]
    ) -> int:
        """Checkpoint step 2: serialize every store's changes and hand them to ``send``
        (store name, changelog partition, key, value, last-of-store); returns how many."""
        for holder in self.operators.values():
            hook = getattr(holder.op, "before_checkpoint", None)
            if hook is not None:
                hook()
        n = 0
        for name, store in self.stores.items():
            changes = store.prepare()
            tp = self.changelog[name]
            last = len(changes) - 1
            for i, (key, value) in enumerate(changes):
                send(name, tp, key, value, i == last)
            n += len(changes)
        return n

    def commit_stores(self) -> None:
        """Checkpoint after the producer flush: apply the prepared changes."""
        for store in self.stores.values():
            store.commit()
        for holder in self.operators.values():
            holder.time.commit()

    def write_checkpoints(self) -> None:
        """Checkpoint step 5, after the input offsets are committed."""
        for name, store in self.stores.items():
            store.write_checkpoint(self.changelog_next[name])

    def rollback(self) -> None:
        """Back to the last checkpoint: drop uncommitted writes, rewind event time."""
        for store in self.stores.values():
            store.discard()
        for holder in self.operators.values():
            holder.time.rollback()
            holder.op.reset()

    def punctuate(self, now: float, idle_timeout: float | None) -> None:
        """Wall-clock time: advance the watermarks of quiet inputs and emit what closes."""
        if idle_timeout is None:
            return
        for holder in self.operators.values():
            mark = holder.time.quiet(now, idle_timeout)
            if mark is not None:
                holder.advance(mark)

    def close(self) -> None:
        """Close every store (uncommitted writes are dropped; RocksDB marks its copy clean)."""
        if self.closed:
            return
        self.closed = True
        for name, store in self.stores.items():
            try:
                store.close()
            except StateError as exc:
                log.warning("closing store %s[%d]: %s", name, self.partition, exc)
