"""Compile a :class:`~strom.runtime.plan.Plan` into closure chains, one per source topic and
task.

Each node becomes a plain function (see :mod:`strom.runtime.functions`) that calls the
functions of its children. A node reached from two sources (through ``merge``) is compiled
once per source, so each chain knows, at compile time, what its source's serdes are and
whether the bytes it read can be written out unchanged; its compiled copies share one
:class:`~strom.runtime.functions.base.StepCounter`. A stateful step is compiled once per
task (:class:`~strom.runtime.state_task.StateTask`), over that task's operator and stores,
and shared by the chains of the task's input topics, with everything downstream of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strom.context import SLOT, Slot
from strom.dsl import graph as g
from strom.errors import StromError
from strom.log.protocols import Producer
from strom.runtime.deliveries import DeliveryFailure, TrackingProducer
from strom.runtime.functions.base import Fn, StepCounter, StepCounters, fan_out
from strom.runtime.functions.branch import compile_split
from strom.runtime.functions.filter import compile_filter
from strom.runtime.functions.flat_map import compile_flat_map
from strom.runtime.functions.key_by import compile_key_by, compile_repartition
from strom.runtime.functions.map import compile_map
from strom.runtime.functions.peek import compile_for_each, compile_peek
from strom.runtime.functions.produce import compile_to
from strom.runtime.functions.sink import compile_sink
from strom.runtime.plan import Plan, SourcePlan
from strom.runtime.state_task import StateTask, compile_stateful
from strom.serde.base import Serde

# Steps that hand on the very value object they received, unchanged by contract: records that
# passed only these can be written with the bytes they were read with.
_VALUE_KEEPING = (g.Filter, g.Split, g.SplitBranch, g.Merge)


@dataclass(frozen=True, slots=True)
class CompiledSource:
    """The compiled chain of one source topic.

    Attributes:
        topic: the topic's name.
        chain: takes each decoded value.
        key_serde: decodes the records' keys (lazily, when a step needs the key).
        value_serde: decodes the records' values.
    """

    topic: str
    chain: Fn
    key_serde: Serde[Any]
    value_serde: Serde[Any]


def same_serde(a: Serde[Any], b: Serde[Any]) -> bool:
    """True when ``a`` and ``b`` are known to encode alike: the same object, equal objects, or
    instances of one class that keeps no per-instance state (``__slots__ = ()``).

    Example:
        >>> from strom.serde import bytes_, json, string
        >>> same_serde(json(), json()), same_serde(bytes_(), json())
        (True, False)
    """
    return a is b or a == b or (type(a) is type(b) and _stateless(a))


def _stateless(obj: object) -> bool:
    return not hasattr(obj, "__dict__") and all(
        not getattr(klass, "__slots__", ()) for klass in type(obj).__mro__ if klass is not object
    )


def compile_plan(
    plan: Plan,
    producer: Producer,
    counters: StepCounters | None = None,
    *,
    failures: list[DeliveryFailure] | None = None,
    slot: Slot | None = None,
) -> dict[str, CompiledSource]:
    """One compiled chain per topic in ``plan.sources`` (stateless plans); every step counts
    its records in ``counters`` (by step name), which the runner publishes once per batch.

    With ``failures`` (careful mode, see :mod:`strom.runtime.deliveries`), every output the
    log refuses is appended there with its step and input record.
    """
    return {
        name: compile_source(
            plan, name, producer, counters, failures=failures, slot=slot, state=None
        )
        for name in plan.sources
    }


def compile_source(
    plan: Plan,
    topic: str,
    producer: Producer,
    counters: StepCounters | None = None,
    *,
    failures: list[DeliveryFailure] | None = None,
    slot: Slot | None = None,
    state: StateTask | None = None,
) -> CompiledSource:
    """The chain of source ``topic`` in one task (``state``: the task's stores and operators,
    needed when the topic's records reach a stateful step)."""
    source = plan.sources[topic]
    compiler = _SourceCompiler(
        plan,
        source,
        producer,
        counters if counters is not None else StepCounters(),
        failures,
        slot if slot is not None else SLOT,
        state,
    )
    return CompiledSource(topic, compiler.compile(), source.topic.key, source.topic.value)


class _SourceCompiler:
    """Compiles the part of the graph one source's records flow through."""

    def __init__(
        self,
        plan: Plan,
        source: SourcePlan,
        producer: Producer,
        counters: StepCounters,
        failures: list[DeliveryFailure] | None,
        slot: Slot,
        state: StateTask | None,
    ) -> None:
        self._plan = plan
        self._source = source
        self._producer = producer
        self._failures = failures
        self._slot = slot
        self._state = state
        self._counters = counters
        self._memo: dict[g.Node, Fn] = {}
        self._reachable = self._reach(source.roots)
        self._intact: dict[g.Node, bool] = {}

    def compile(self) -> Fn:
        origin = self._source.origin
        return fan_out([self._edge(origin, root) for root in self._source.roots])

    def _reach(self, roots: tuple[g.Node, ...]) -> set[g.Node]:
        """Nodes this source's records pass through (stopping at repartitions)."""
        seen: set[g.Node] = set()
        stack = list(roots)
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node not in self._plan.repartitions:
                stack.extend(self._plan.children.get(node, ()))
        return seen

    def _value_intact(self, node: g.Node) -> bool:
        """True when every path from the source to ``node`` keeps the value object as read."""
        known = self._intact.get(node)
        if known is not None:
            return known
        if node is self._source.origin:
            result = True
        elif isinstance(node, _VALUE_KEEPING):
            parents = [p for p in node.parents if p in self._reachable or p is self._source.origin]
            result = bool(parents) and all(self._value_intact(p) for p in parents)
        else:
            result = False
        self._intact[node] = result
        return result

    def _producer_for(self, step: str) -> Producer:
        if self._failures is None:
            return self._producer
        return TrackingProducer(self._producer, step, self._slot, self._failures)

    def _downstream(self, node: g.Node) -> Fn:
        return fan_out([self._edge(node, child) for child in self._plan.children[node]])

    def _edge(self, parent: g.Node, child: g.Node) -> Fn:
        """The function records of ``parent`` enter ``child`` by (a join's records enter by
        the port of the side they come from)."""
        if isinstance(child, g.Stateful) and len(child.parents) > 1:
            return self._stateful_port(child, child.parents.index(parent))
        return self._node(child)

    def _node(self, node: g.Node) -> Fn:
        fn = self._memo.get(node)
        if fn is None:
            fn = self._stateful_port(node, 0) if isinstance(node, g.Stateful) else self._build(node)
            self._memo[node] = fn
        return fn

    def _stateful_port(self, node: g.Stateful, port: int) -> Fn:
        state = self._state
        if state is None:
            raise StromError(f"step {node.name!r} is stateful but its task has no state (a bug)")
        fn = state.memo.get((node, port))
        if fn is None:
            fn = state.memo[node, port] = self._stateful(node, state, port)
        return fn

    def _stateful(self, node: g.Stateful, state: StateTask, port: int) -> Fn:
        holder = state.operators[node]
        late: Fn | None = None
        if node.late is not None:
            late = compile_to(
                f"{node.name}:late",
                self._producer_for(node.name),
                node.late.name,
                node.late.key,
                node.late.value,
                key_bytes_reusable=False,
                value_bytes_reusable=False,
                counter=self._counters(f"{node.name}:late"),
                slot_=self._slot,
            )
        fn = compile_stateful(node, holder, self._slot, self._counters(node.name), late, port)
        if holder.downstream is None:
            holder.downstream = self._downstream(node)
        return fn

    def _build(self, node: g.Node) -> Fn:
        if isinstance(node, g.SplitBranch | g.Merge):
            return self._downstream(node)  # pass-through: nothing of its own to count
        counter = self._counters(node.name)
        if isinstance(node, g.Map):
            return compile_map(node.name, node.fn, self._downstream(node), counter)
        if isinstance(node, g.Filter):
            return compile_filter(node.name, node.predicate, self._downstream(node), counter)
        if isinstance(node, g.FlatMap):
            return compile_flat_map(node.name, node.fn, self._downstream(node), counter)
        if isinstance(node, g.Peek):
            return compile_peek(node.name, node.fn, self._downstream(node), counter)
        if isinstance(node, g.ForEach):
            return compile_for_each(node.name, node.fn, counter)
        if isinstance(node, g.KeyBy):
            return self._key_by(node, counter)
        if isinstance(node, g.Split):
            return self._split(node, counter)
        if isinstance(node, g.To):
            return self._to(node, counter)
        if isinstance(node, g.SinkStep):
            return compile_sink(node.name, node.sink, counter, self._slot)
        raise TypeError(f"cannot compile step {node.name!r} of type {type(node).__name__}")

    def _key_by(self, node: g.KeyBy, counter: StepCounter) -> Fn:
        topic = self._plan.repartitions.get(node)
        if topic is None:
            return compile_key_by(node.name, node.fn, self._downstream(node), counter, self._slot)
        return compile_repartition(
            node.name,
            node.fn,
            self._producer_for(node.name),
            topic.name,
            topic.key,
            topic.value,
            counter,
            self._slot,
        )

    def _split(self, node: g.Split, counter: StepCounter) -> Fn:
        outputs: dict[int, Fn] = {}
        for child in self._plan.children[node]:
            assert isinstance(child, g.SplitBranch)
            outputs[child.index] = self._node(child)
        n = len(node.predicates)
        return compile_split(
            node.name,
            node.predicates,
            [outputs.get(i) for i in range(n)],
            outputs.get(n) if node.default is not None else None,
            counter,
        )

    def _to(self, node: g.To, counter: StepCounter) -> Fn:
        source = self._source.topic
        target = node.topic
        return compile_to(
            node.name,
            self._producer_for(node.name),
            target.name,
            target.key,
            target.value,
            key_bytes_reusable=same_serde(source.key, target.key),
            value_bytes_reusable=same_serde(source.value, target.value)
            and all(self._value_intact(p) for p in node.parents),
            counter=counter,
            slot_=self._slot,
        )
