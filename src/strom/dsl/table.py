"""Tables: the latest value per key of a topic, and joins with streams and other tables.

A :class:`Table` is read from a (usually compacted) topic: each record sets its key's value,
a tombstone (None value) deletes the key. It is materialised in a state store, one partition
per task, backed up to a changelog and restored like any store. Its changes flow through
table views (``filter``, ``map_values``), into ``to_stream()`` and table-table joins; streams
look it up with ``stream.join(table, joiner)``.

A :class:`GlobalTable` holds every partition of a small topic in every process, so that a
stream can look it up by any key (no co-partitioning needed).

Example:
    >>> import strom
    >>> app = strom.App("docs-table")
    >>> users = app.table(app.topic("users"))
    >>> pro = users.filter(lambda u: u["tier"] == "pro", name="pro-users")
    >>> orders = app.stream(app.topic("orders"))
    >>> enriched = orders.join(users, lambda o, u: {**o, "tier": u and u["tier"]}, how="left",
    ...                        name="with-tier")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strom.dsl import graph as g
from strom.dsl.topic import Topic
from strom.errors import ConfigError
from strom.runtime.operators.joins import TableTableJoinSpec, View, filter_view

_TABLE_HOWS = ("inner", "left", "outer")


class Table:
    """A changelog stream read as a table (see the module docstring). Immutable, like
    :class:`~strom.dsl.Stream`: every method returns a new table or stream."""

    __slots__ = ("_graph", "_node", "_source", "_views")

    def __init__(
        self, graph: g.Graph, node: g.Node, source: g.Stateful | None, views: tuple[View, ...]
    ) -> None:
        self._graph = graph
        self._node = node
        self._source = source
        self._views = views

    @property
    def name(self) -> str:
        """The step id of the node this table's changes come from."""
        return self._node.name

    @property
    def node(self) -> g.Node:
        """The graph node emitting this table's changes."""
        return self._node

    @property
    def source(self) -> g.Stateful | None:
        """The materialised table this one is a view of (None: a join result, not
        materialised: it cannot be looked up)."""
        return self._source

    @property
    def views(self) -> tuple[View, ...]:
        """The value views between the materialised table and this one."""
        return self._views

    def filter(self, predicate: Callable[[Any], object], *, name: str | None = None) -> Table:
        """The rows whose value passes ``predicate``; a row that stops passing is deleted."""
        if not callable(predicate):
            raise ConfigError(f"table filter() needs a function, got {predicate!r}")
        from strom.joins import TableFilter

        view = TableFilter(predicate)
        step = self._graph.names.claim(name, "table-filter")
        node = g.FlatMap(step, (self._node,), lambda change: _kept(view(change)))
        return Table(self._graph, node, self._source, (*self._views, filter_view(predicate)))

    def map_values(self, fn: Callable[[Any], Any], *, name: str | None = None) -> Table:
        """Every row's value mapped with ``fn``."""
        if not callable(fn):
            raise ConfigError(f"table map_values() needs a function, got {fn!r}")
        from strom.joins import TableMapValues

        view = TableMapValues(fn)
        step = self._graph.names.claim(name, "table-map")
        node = g.Map(step, (self._node,), view)
        return Table(self._graph, node, self._source, (*self._views, fn))

    def to_stream(self, *, name: str | None = None) -> Any:
        """The stream of the table's updates: each change's new value under its key (None
        for a delete: a tombstone when written to a topic)."""
        from strom.dsl.stream import Stream

        step = self._graph.names.claim(name, "to-stream")
        return Stream(self._graph, g.Map(step, (self._node,), _new_value))

    def join(
        self,
        other: Table,
        joiner: Callable[[Any, Any], Any],
        *,
        how: str = "inner",
        name: str | None = None,
    ) -> Table:
        """A table whose row of a key is ``joiner(left, right)`` of both tables' rows,
        recomputed when either changes (``how``: inner, left, outer). The tables must be
        co-partitioned; both must be materialised tables or views of them."""
        if not isinstance(other, Table):
            raise ConfigError(
                f"table join() takes a Table, got {type(other).__name__}; join a stream with "
                "stream.join(table, ...)"
            )
        if how not in _TABLE_HOWS:
            raise ConfigError(f"table join(): how must be one of {_TABLE_HOWS}, got {how!r}")
        if not callable(joiner):
            raise ConfigError(f"table join() needs a joiner function, got {joiner!r}")
        if self._source is None or other._source is None:
            raise ConfigError(
                "table join(): both sides must be tables read from topics (or their filter/"
                "map_values views); write a joined table to a topic and read it with "
                "app.table() to join it again"
            )
        spec = TableTableJoinSpec(
            self._source, self._views, other._source, other._views, joiner, how
        )
        step = self._graph.names.claim(name, "table-join")
        node = g.Stateful(step, (self._node, other._node), spec)
        return Table(self._graph, node, None, ())

    def __repr__(self) -> str:
        return f"<Table {self._node.name!r} of app {self._graph.app!r}>"


class GlobalTable:
    """Every partition of a topic, in every process of the application (see module doc)."""

    __slots__ = ("_graph", "topic", "views")

    def __init__(self, graph: g.Graph, topic: Topic, views: tuple[View, ...] = ()) -> None:
        self._graph = graph
        self.topic = topic
        self.views = views

    def __repr__(self) -> str:
        return f"<GlobalTable {self.topic.name!r} of app {self._graph.app!r}>"


def _kept(change: Any) -> list[Any]:
    return [] if change is None else [change]


def _new_value(change: Any) -> Any:
    return change.new
