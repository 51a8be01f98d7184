"""From the operator graph to a plan: which topics are read, where repartitions go.

The plan keeps only the steps that lead to a terminal (``to``, ``sink``, ``for_each``) and
decides the repartitions: a stateful step (aggregation, window, join) whose nearest key change
upstream is a ``key_by`` makes that ``key_by`` write to ``{app}-{step}-repartition``; the steps
after the ``key_by`` then run on the records read back from that topic, partitioned by the new
key. A ``key_by`` followed by no stateful step only changes the key: ``key_by().to(t)`` writes
straight to ``t`` (partitioned there by the new key).

Stateful steps group the topics they read into *subtopologies*: topics whose records meet in
one stateful step share its tasks (partition ``p`` of each is task ``p``), so they must have
as many partitions (co-partitioned); each stateful step's stores get a changelog topic
``{app}-{store}-changelog`` with that many partitions.

Example:
    >>> import strom
    >>> app = strom.App("docs-plan")
    >>> events, out = app.topic("events"), app.topic("out")
    >>> app.stream(events).key_by(lambda e: e["user"], name="by-user").count(name="n").to(out)
    >>> plan = build_plan(app.graph)
    >>> sorted(plan.sources)
    ['docs-plan-by-user-repartition', 'events']
    >>> sorted(plan.outputs), sorted(plan.changelogs)
    (['out'], ['docs-plan-n-changelog'])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from strom.dsl import graph as g
from strom.dsl.names import repartition_topic
from strom.dsl.topic import Topic
from strom.errors import ConfigError
from strom.runtime.operators.base import StoreSpec


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
        subtopology: for each source topic, the name of its subtopology (topics whose records
            meet in a stateful step share one; a topic with no stateful step is its own).
        stateful: the stateful steps, with the subtopology they run in.
        stores: the stores of each stateful step.
        changelogs: the changelog topic of every store, by topic name, with its store.
        global_tables: the topics every process reads whole (global tables), by name.
    """

    app: str
    sources: dict[str, SourcePlan]
    outputs: dict[str, Topic]
    repartitions: dict[g.KeyBy, Topic]
    children: dict[g.Node, tuple[g.Node, ...]]
    upstream: dict[str, frozenset[str]]
    subtopology: dict[str, str]
    stateful: dict[g.Stateful, str]
    stores: dict[g.Stateful, tuple[StoreSpec, ...]]
    changelogs: dict[str, StoreSpec]
    global_tables: dict[str, Topic]

    def subtopology_topics(self, subtopology: str) -> list[str]:
        """The source topics of ``subtopology``, sorted."""
        return sorted(t for t, s in self.subtopology.items() if s == subtopology)

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
    marked = _repartitioned(children)

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
    for node in children:
        if isinstance(node, g.Stateful) and node.late is not None:
            outputs[node.late.name] = node.late
    upstream = {
        topic.name: frozenset(_upstream_topics(key_by, repartitions))
        for key_by, topic in repartitions.items()
    }
    subtopology, stateful = _subtopologies(sources, children, repartitions)
    stores: dict[g.Stateful, tuple[StoreSpec, ...]] = {}
    changelogs: dict[str, StoreSpec] = {}
    for node in stateful:
        specs = tuple(node.spec.stores(node.name))
        stores[node] = specs
        for spec in specs:
            name = changelog_topic(graph.app, spec.name)
            if name in changelogs or name in sources or name in graph.topics:
                raise ConfigError(
                    f"the changelog topic {name!r} of store {spec.name!r} (step {node.name!r}) "
                    "clashes with another topic or store; rename the step"
                )
            changelogs[name] = spec
    return Plan(
        graph.app,
        sources,
        outputs,
        repartitions,
        children,
        upstream,
        subtopology,
        stateful,
        stores,
        changelogs,
        dict(graph.global_tables),
    )


def changelog_topic(app: str, store: str) -> str:
    """The changelog topic of store ``store`` of application ``app``.

    Example:
        >>> changelog_topic("login-stats", "logins-per-5m")
        'login-stats-logins-per-5m-changelog'
    """
    return f"{app}-{store}-changelog"


def _subtopologies(
    sources: dict[str, SourcePlan],
    children: dict[g.Node, tuple[g.Node, ...]],
    repartitions: dict[g.KeyBy, Topic],
) -> tuple[dict[str, str], dict[g.Stateful, str]]:
    """Group source topics whose records reach a common stateful step (without crossing a
    repartition): each group is a subtopology, named after its first topic."""
    parent = {name: name for name in sources}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    reached: dict[g.Stateful, list[str]] = {}
    for name, source in sources.items():
        stack = list(source.roots)
        seen: set[g.Node] = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if isinstance(node, g.Stateful):
                reached.setdefault(node, []).append(name)
            if isinstance(node, g.KeyBy) and node in repartitions:
                continue  # its children read the repartition topic: another source
            stack.extend(children.get(node, ()))
    for names in reached.values():
        for other in names[1:]:
            parent[find(other)] = find(names[0])
    groups: dict[str, list[str]] = {}
    for name in sorted(sources):
        groups.setdefault(find(name), []).append(name)
    label = {root: members[0] for root, members in groups.items()}
    subtopology = {name: label[find(name)] for name in sources}
    stateful = {node: subtopology[names[0]] for node, names in reached.items()}
    return subtopology, stateful


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


def _repartitioned(nodes: Iterable[g.Node]) -> list[g.KeyBy]:
    """The ``key_by`` nodes nearest upstream of each step that needs records partitioned by
    their key (the stateful steps)."""
    marked: dict[g.KeyBy, None] = {}
    for keyed in nodes:
        if not isinstance(keyed, g.Stateful):
            continue
        stack = list(keyed.parents)
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
