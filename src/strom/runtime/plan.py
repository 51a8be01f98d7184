"""From the operator graph to a plan: which topics are read, where repartitions go.

The plan keeps only the steps that lead to a terminal (``to``, ``sink``, ``for_each``) and
decides the repartitions: a ``to()`` (later: any keyed step) whose nearest key change upstream
is a ``key_by`` makes that ``key_by`` write to ``{app}-{step}-repartition``; the steps after the
``key_by`` then run on the records read back from that topic, partitioned by the new key.

Example:
    >>> import strom
    >>> app = strom.App("docs-plan")
    >>> events, out = app.topic("events"), app.topic("out")
    >>> app.stream(events).key_by(lambda e: e["user"], name="by-user").to(out)
    >>> plan = build_plan(app.graph)
    >>> sorted(plan.sources)
    ['docs-plan-by-user-repartition', 'events']
    >>> sorted(plan.outputs)
    ['out']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from strom.dsl import graph as g
from strom.dsl.names import repartition_topic
from strom.dsl.topic import Topic
from strom.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """A topic the application reads and the steps its records enter.

    Attributes:
        topic: a user topic, or the internal repartition topic of ``origin``.
        roots: the steps fed by this topic's records.
        origin: the source node, or the ``key_by`` node that writes the repartition topic.
    """

    topic: Topic
    roots: tuple[g.Node, ...]
    origin: g.Node


@dataclass(frozen=True, slots=True)
class Plan:
    """What the runtime needs to start an application.

    Attributes:
        app: the application name.
        sources: every topic read, by name (user sources and repartition topics).
        outputs: the user topics written by ``to()``, by name.
        repartitions: the repartition topic of every ``key_by`` that needs one.
        children: the live steps fed by each live step, in declaration order.
        upstream: for each repartition topic, the topics whose partition counts bound it.
    """

    app: str
    sources: dict[str, SourcePlan]
    outputs: dict[str, Topic]
    repartitions: dict[g.KeyBy, Topic]
    children: dict[g.Node, tuple[g.Node, ...]]
    upstream: dict[str, frozenset[str]]

    def sinks(self) -> list[g.SinkStep]:
        """The sink steps of the plan."""
        return [n for n in self.children if isinstance(n, g.SinkStep)]


def build_plan(graph: g.Graph) -> Plan:
    """Plan ``graph``; raises ConfigError when it has no terminal or a name clashes."""
    if not graph.terminals:
        raise ConfigError(
            f"application {graph.app!r} has no pipeline: end at least one stream with "
            ".to(topic), .sink(sink) or .for_each(fn)"
        )
    children = _children(graph.terminals)
    marked = _repartitioned(graph.terminals)

    sources: dict[str, SourcePlan] = {}
    for node in children:
        if isinstance(node, g.Source):
            sources[node.topic.name] = SourcePlan(node.topic, children[node], node)
    repartitions: dict[g.KeyBy, Topic] = {}
    for key_by in marked:
        name = repartition_topic(graph.app, key_by.name)
        if name in sources or name in graph.topics:
            raise ConfigError(
                f"topic {name!r} is declared by the application, but it is the internal "
                f"repartition topic of step {key_by.name!r}; rename the topic or the step"
            )
        topic = Topic(name, key_by.key, key_by.value, key_by.partitions, internal=True)
        repartitions[key_by] = topic
        sources[name] = SourcePlan(topic, children[key_by], key_by)
    outputs = {n.topic.name: n.topic for n in children if isinstance(n, g.To)}
    upstream = {
        topic.name: frozenset(_upstream_topics(key_by, repartitions))
        for key_by, topic in repartitions.items()
    }
    return Plan(graph.app, sources, outputs, repartitions, children, upstream)


def _children(terminals: Iterable[g.Node]) -> dict[g.Node, tuple[g.Node, ...]]:
    """Children of every node from which a terminal is reachable.

    A step with several children hands each record to them in the order of the terminals they
    lead to (the order the pipelines were declared in).
    """
    found: dict[g.Node, list[g.Node]] = {}

    def visit(node: g.Node) -> None:
        for parent in node.parents:
            known = parent in found
            kids = found.setdefault(parent, [])
            if node not in kids:
                kids.append(node)
            if not known:
                visit(parent)

    for terminal in terminals:
        found.setdefault(terminal, [])
        visit(terminal)
    return {node: tuple(kids) for node, kids in found.items()}


def _repartitioned(terminals: Iterable[g.Node]) -> list[g.KeyBy]:
    """The ``key_by`` nodes nearest upstream of each step that needs records partitioned by
    their key (today: ``to``)."""
    marked: dict[g.KeyBy, None] = {}
    for terminal in terminals:
        if not isinstance(terminal, g.To):
            continue
        stack = list(terminal.parents)
        seen: set[g.Node] = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if isinstance(node, g.KeyBy):
                marked[node] = None
            elif not isinstance(node, g.Source):
                stack.extend(node.parents)
    return list(marked)


def _upstream_topics(key_by: g.KeyBy, repartitions: dict[g.KeyBy, Topic]) -> set[str]:
    """Topics read upstream of ``key_by`` before any other repartition."""
    topics: set[str] = set()
    stack = list(key_by.parents)
    seen: set[g.Node] = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, g.Source):
            topics.add(node.topic.name)
        elif isinstance(node, g.KeyBy) and node in repartitions:
            topics.add(repartitions[node].name)
        else:
            stack.extend(node.parents)
    return topics
