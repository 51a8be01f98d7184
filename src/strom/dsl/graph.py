"""The operator graph: immutable nodes pointing at their parents, and the app's registry.

A :class:`~strom.dsl.Stream` is a handle on one node; every operator call makes a new node
whose ``parents`` are the nodes it reads from. Nothing here runs: :mod:`strom.runtime` plans
and compiles the graph when the application starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from strom.dsl.names import StepNames
from strom.dsl.topic import Topic
from strom.error_policies import ErrorPolicy
from strom.errors import ConfigError
from strom.serde.base import Serde
from strom.sinks.base import Sink


@dataclass(frozen=True, eq=False, slots=True)
class Node:
    """A step of the graph. Nodes compare by identity: two steps are never "the same".

    Attributes:
        name: the step id, unique in its application.
        parents: the nodes whose output this node reads.
    """

    name: str
    parents: tuple[Node, ...]


@dataclass(frozen=True, eq=False, slots=True)
class Source(Node):
    """Records read from a topic."""

    topic: Topic


@dataclass(frozen=True, eq=False, slots=True)
class Map(Node):
    """``fn(value) -> new value``."""

    fn: Callable[[Any], Any]


@dataclass(frozen=True, eq=False, slots=True)
class FlatMap(Node):
    """``fn(value) -> iterable of values``, each one a record with the input's metadata."""

    fn: Callable[[Any], Iterable[Any]]


@dataclass(frozen=True, eq=False, slots=True)
class Filter(Node):
    """Keep records for which ``predicate(value)`` is true."""

    predicate: Callable[[Any], object]


@dataclass(frozen=True, eq=False, slots=True)
class Peek(Node):
    """Call ``fn(value)`` for its side effect; records pass unchanged."""

    fn: Callable[[Any], object]


@dataclass(frozen=True, eq=False, slots=True)
class KeyBy(Node):
    """Give each record the key ``fn(value)``.

    When a step that depends on the key follows (``to()`` now, aggregations later), the runtime
    repartitions through the internal topic ``{app}-{name}-repartition``, written with the
    ``key`` and ``value`` serdes and with ``partitions`` partitions (None: as many as the widest
    source topic upstream).
    """

    fn: Callable[[Any], Any]
    key: Serde[Any]
    value: Serde[Any]
    partitions: int | None


@dataclass(frozen=True, eq=False, slots=True)
class Split(Node):
    """Route each record to the first branch whose predicate holds, else to the default."""

    predicates: tuple[Callable[[Any], object], ...]
    labels: tuple[str, ...]
    default: str | None


@dataclass(frozen=True, eq=False, slots=True)
class SplitBranch(Node):
    """One output of a :class:`Split`: branch ``index`` (``len(predicates)`` is the default)."""

    index: int


@dataclass(frozen=True, eq=False, slots=True)
class Merge(Node):
    """The records of all parents, each in its own order."""


@dataclass(frozen=True, eq=False, slots=True)
class To(Node):
    """Write records to a topic (terminal)."""

    topic: Topic


@dataclass(frozen=True, eq=False, slots=True)
class SinkStep(Node):
    """Hand records to a batching :class:`~strom.sinks.Sink` (terminal)."""

    sink: Sink


@dataclass(frozen=True, eq=False, slots=True)
class ForEach(Node):
    """Call ``fn(value)`` for every record (terminal)."""

    fn: Callable[[Any], object]


@dataclass(frozen=True, eq=False, slots=True)
class Stateful(Node):
    """A keyed step with state (aggregations, windows, joins): each task runs its own
    operator over its own store partitions (see :mod:`strom.runtime.operators`).

    Attributes:
        spec: builds the per-task operator and names the stores it needs.
        timestamp: the event time of a value (None: the record's timestamp).
        late: the topic late records are written to (None: counted and dropped).
        lag_ms: how far behind the largest event time seen the watermark stays (the
            out-of-orderness allowed before a window's grace even starts).
    """

    spec: Any
    timestamp: Callable[[Any], int] | None = None
    late: Topic | None = None
    lag_ms: int = 0


TERMINALS = (To, SinkStep, ForEach)


class Graph:
    """The registry of one application's graph: its topics, step names, sources and terminals.

    Nodes are immutable; the registry only grows. The runtime reads :attr:`terminals` and
    walks up from them, so steps that lead to no terminal never run.
    """

    def __init__(self, app: str) -> None:
        self.app = app
        self.names = StepNames(app)
        self.topics: dict[str, Topic] = {}
        self.sources: dict[str, Source] = {}
        self.terminals: list[Node] = []
        self.error_policies: dict[str, ErrorPolicy] = {}
        """Per-step error policies (``on_error=``), by step name."""
        self.global_tables: dict[str, Topic] = {}
        """Topics read whole by every process (``app.global_table``), by name."""

    def declare(self, topic: Topic) -> Topic:
        """Register ``topic``; the same name may only be declared once, unless identically."""
        known = self.topics.get(topic.name)
        if known is not None:
            if known == topic:
                return known
            raise ConfigError(
                f"topic {topic.name!r} is declared twice in application {self.app!r} with "
                "different serdes or settings; declare it once and reuse the Topic"
            )
        self.topics[topic.name] = topic
        return topic

    def check_topic(self, topic: object, what: str) -> Topic:
        """``topic`` if it is a Topic declared in this application, else raise ConfigError."""
        if not isinstance(topic, Topic):
            raise ConfigError(
                f"{what}: expected a Topic from app.topic(...), got {type(topic).__name__} "
                f"{topic!r}"
            )
        if self.topics.get(topic.name) is not topic:
            raise ConfigError(
                f"{what}: topic {topic.name!r} is not declared in application {self.app!r}; "
                "declare it with app.topic(...) of this application"
            )
        return topic

    def source(self, topic: Topic) -> Source:
        """The one source node of ``topic`` (shared by every ``app.stream(topic)``)."""
        node = self.sources.get(topic.name)
        if node is None:
            # "source:" cannot clash with a user's step name (':' is not allowed there).
            node = Source(f"source:{topic.name}", (), topic)
            self.sources[topic.name] = node
        return node

    def set_error_policy(self, step: str, policy: ErrorPolicy | None) -> None:
        """Make ``policy`` the error policy of ``step`` (None: the application's default)."""
        if policy is None:
            return
        if not isinstance(policy, ErrorPolicy):
            raise ConfigError(
                f"step {step!r}: on_error= must be an error policy such as "
                f"strom.errors.skip() or strom.errors.dead_letter('topic'), got {policy!r}"
            )
        self.error_policies[step] = policy

    def add_terminal(self, node: Node) -> None:
        """Record a node that ends a pipeline (to, sink, for_each)."""
        self.terminals.append(node)
