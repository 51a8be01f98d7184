"""The fluent stream API: each method returns a new :class:`Stream` over a new graph node.

User functions take the record's value and return values; the record's key, timestamp,
headers and position are available inside them through :func:`strom.context.current`.

Example:
    >>> import strom
    >>> app = strom.App("docs-stream")
    >>> events = app.topic("events")
    >>> out = app.topic("out")
    >>> logins = app.stream(events).filter(lambda e: e["action"] == "login", name="logins")
    >>> logins.name
    'logins'
    >>> logins.map(lambda e: {**e, "seen": True}).to(out)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from strom.dsl import graph as g
from strom.error_policies import ErrorPolicy
from strom.errors import ConfigError
from strom.serde.base import Serde
from strom.serde.json_serde import json as json_serde
from strom.sinks.base import Sink

if TYPE_CHECKING:
    from strom.dsl.table import Table
    from strom.dsl.topic import Topic
    from strom.dsl.windowed import WindowedStream


def _callable(fn: object, method: str) -> None:
    if not callable(fn):
        raise ConfigError(f"{method}() needs a function, got {type(fn).__name__} {fn!r}")


class Stream:
    """An unbounded sequence of records; build pipelines by chaining its methods.

    Streams are immutable: every method leaves this stream unchanged and returns a new one, so a
    stream can feed several pipelines. Every method takes ``name=``, the step id, unique in the
    application and made of ASCII letters, digits, ``.``, ``_`` and ``-``. Omitted names are
    generated in declaration order (``map-1``, ``filter-2``...).

    Steps that run user code or write records also take ``on_error=``: what to do when the
    step fails on a record (:func:`strom.errors.skip`, :func:`~strom.errors.dead_letter`,
    :func:`~strom.errors.retry`, :func:`~strom.errors.fail`); the application's ``on_error``
    applies to the others.
    """

    __slots__ = ("_graph", "_node")

    def __init__(self, graph: g.Graph, node: g.Node) -> None:
        self._graph = graph
        self._node = node

    @property
    def name(self) -> str:
        """The step id of the node this stream reads from."""
        return self._node.name

    @property
    def node(self) -> g.Node:
        """The graph node this stream reads from."""
        return self._node

    def _then(self, node: g.Node) -> Stream:
        return Stream(self._graph, node)

    def _claim(self, name: str | None, kind: str, on_error: ErrorPolicy | None) -> str:
        step = self._graph.names.claim(name, kind)
        self._graph.set_error_policy(step, on_error)
        return step

    def map(
        self,
        fn: Callable[[Any], Any],
        *,
        name: str | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """Replace each value with ``fn(value)``; the key stays.

        Example:
            >>> import strom
            >>> app = strom.App("docs-map")
            >>> app.stream(app.topic("t")).map(lambda v: v * 2, name="double").name
            'double'
        """
        _callable(fn, "map")
        return self._then(g.Map(self._claim(name, "map", on_error), (self._node,), fn))

    def map_values(
        self,
        fn: Callable[[Any], Any],
        *,
        name: str | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """The same as :meth:`map` (the Kafka Streams name): values change, keys do not."""
        _callable(fn, "map_values")
        return self._then(g.Map(self._claim(name, "map_values", on_error), (self._node,), fn))

    def filter(
        self,
        predicate: Callable[[Any], object],
        *,
        name: str | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """Keep the records for which ``predicate(value)`` is true.

        The predicate must not modify the value: records that only pass filters are written
        out with their original bytes.
        """
        _callable(predicate, "filter")
        return self._then(g.Filter(self._claim(name, "filter", on_error), (self._node,), predicate))

    def flat_map(
        self,
        fn: Callable[[Any], Iterable[Any]],
        *,
        name: str | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """Replace each value with the values of ``fn(value)`` (zero, one or many), each with
        the input record's key, timestamp and headers.

        Example:
            >>> import strom
            >>> app = strom.App("docs-flat-map")
            >>> words = app.stream(app.topic("lines")).flat_map(str.split, name="words")
        """
        _callable(fn, "flat_map")
        return self._then(g.FlatMap(self._claim(name, "flat_map", on_error), (self._node,), fn))

    def peek(
        self,
        fn: Callable[[Any], object],
        *,
        name: str | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """Call ``fn(value)`` for each record (logging, metrics); records pass unchanged."""
        _callable(fn, "peek")
        return self._then(g.Peek(self._claim(name, "peek", on_error), (self._node,), fn))

    def for_each(
        self,
        fn: Callable[[Any], object],
        *,
        name: str | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> None:
        """End the pipeline by calling ``fn(value)`` for each record."""
        _callable(fn, "for_each")
        node = g.ForEach(self._claim(name, "for_each", on_error), (self._node,), fn)
        self._graph.add_terminal(node)

    def key_by(
        self,
        fn: Callable[[Any], Any],
        *,
        name: str | None = None,
        key: Serde[Any] | None = None,
        value: Serde[Any] | None = None,
        partitions: int | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """Give each record the key ``fn(value)``.

        Before the next step that depends on keys (``to()``; aggregations and joins later),
        records are repartitioned through the internal topic ``{app}-{name}-repartition``, so
        that all records with the same new key are processed, and written, by one partition.
        Name this step explicitly: the topic's name derives from it.

        Args:
            fn: computes the new key from the value.
            name: the step id (and part of the repartition topic's name).
            key: serde of the new keys in the repartition topic (default JSON).
            value: serde of the values in the repartition topic (default JSON).
            partitions: partitions of the repartition topic (default: as many as the widest
                source topic upstream).
            on_error: what to do when ``fn`` raises (default: the application's policy).

        Example:
            >>> import strom
            >>> app = strom.App("docs-key-by")
            >>> by_user = app.stream(app.topic("t")).key_by(lambda e: e["user"], name="by-user")
        """
        _callable(fn, "key_by")
        if partitions is not None and (not isinstance(partitions, int) or partitions < 1):
            raise ConfigError(f"key_by(): partitions must be a positive int, got {partitions!r}")
        for role, serde in (("key", key), ("value", value)):
            if serde is not None and not isinstance(serde, Serde):
                raise ConfigError(f"key_by(): {role}= must be a Serde, got {serde!r}")
        step = self._claim(name, "key_by", on_error)
        node = g.KeyBy(
            step,
            (self._node,),
            fn,
            key if key is not None else _JSON,
            value if value is not None else _JSON,
            partitions,
        )
        return self._then(node)

    def select_key(
        self,
        fn: Callable[[Any], Any],
        *,
        name: str | None = None,
        key: Serde[Any] | None = None,
        value: Serde[Any] | None = None,
        partitions: int | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """The same as :meth:`key_by` (the Kafka Streams name)."""
        return self.key_by(
            fn, name=name, key=key, value=value, partitions=partitions, on_error=on_error
        )

    def branch(
        self,
        branches: Mapping[str, Callable[[Any], object]],
        *,
        default: str | None = "default",
        name: str | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> dict[str, Stream]:
        """Split the stream: each record goes to the first branch whose predicate holds, or
        to the ``default`` branch (dropped when ``default`` is None).

        Branch ``label`` becomes step ``{name}-{label}``.

        Example:
            >>> import strom
            >>> app = strom.App("docs-branch")
            >>> parts = app.stream(app.topic("t")).branch(
            ...     {"small": lambda n: n < 10, "medium": lambda n: n < 100}, name="size")
            >>> sorted(parts), parts["small"].name
            (['default', 'medium', 'small'], 'size-small')
        """
        if not isinstance(branches, Mapping) or not branches:
            raise ConfigError("branch() needs a non-empty mapping of label -> predicate")
        labels = list(branches)
        for label in labels:
            _callable(branches[label], f"branch {label!r} of branch")
        if default is not None:
            if default in branches:
                raise ConfigError(
                    f"branch(): the default branch label {default!r} is also a predicate label"
                )
            labels.append(default)
        step = self._claim(name, "branch", on_error)
        split = g.Split(
            step,
            (self._node,),
            tuple(branches.values()),
            tuple(branches),
            default,
        )
        return {
            label: self._then(
                g.SplitBranch(self._graph.names.claim(f"{step}-{label}", "branch"), (split,), i)
            )
            for i, label in enumerate(labels)
        }

    def merge(self, *others: Stream, name: str | None = None) -> Stream:
        """One stream with the records of this stream and of ``others``.

        Each input keeps its own order; there is no order between inputs.
        """
        if not others:
            raise ConfigError("merge() needs at least one other stream")
        nodes = [self._node]
        for other in others:
            if not isinstance(other, Stream):
                raise ConfigError(f"merge() takes streams, got {type(other).__name__} {other!r}")
            if other._graph is not self._graph:
                raise ConfigError(
                    f"merge(): stream {other.name!r} belongs to another application "
                    f"({other._graph.app!r}, not {self._graph.app!r})"
                )
            if any(other._node is n for n in nodes):
                raise ConfigError(f"merge(): stream {other.name!r} is given twice")
            nodes.append(other._node)
        return self._then(g.Merge(self._graph.names.claim(name, "merge"), tuple(nodes)))

    def aggregate(
        self,
        init: Callable[[], Any],
        add: Callable[[Any, Any], Any],
        *,
        result: Callable[[Any], Any] | None = None,
        name: str | None = None,
        value: Serde[Any] | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """Fold each record's value into the accumulator of its key; emit the key's new
        result (``result(acc)``, or the accumulator) for every record.

        The accumulators live in a state store named after the step, one partition per
        input partition, backed up to the changelog topic ``{app}-{name}-changelog`` and
        restored from it when a partition moves or the application restarts. Records are
        grouped by their current key: the stream must be partitioned by it (a source topic
        keyed by its record keys, or after ``key_by``, which then repartitions). Name this
        step explicitly: the store and its changelog derive their names from it.

        Args:
            init: the accumulator of a key seen for the first time.
            add: ``add(acc, value) -> new acc``.
            result: what to emit for an accumulator (default: the accumulator).
            name: the step id (and the store's name).
            value: serde of the accumulators in the store (default JSON).
            on_error: what to do when ``add`` or ``result`` raises.

        Example:
            >>> import strom
            >>> app = strom.App("docs-aggregate")
            >>> totals = app.stream(app.topic("orders")).aggregate(
            ...     lambda: 0, lambda acc, order: acc + order["amount"], name="totals")
        """
        _callable(init, "aggregate")
        _callable(add, "aggregate")
        if result is not None:
            _callable(result, "aggregate")
        return self._rolling("aggregate", init, add, result, name, value, on_error)

    def _rolling(
        self,
        kind: str,
        init: Callable[[], Any],
        add: Callable[[Any, Any], Any],
        result: Callable[[Any], Any] | None,
        name: str | None,
        value: Serde[Any] | None,
        on_error: ErrorPolicy | None,
    ) -> Stream:
        from strom.runtime.operators.aggregate import AggregateSpec

        if value is not None and not isinstance(value, Serde):
            raise ConfigError(f"{kind}(): value= must be a Serde, got {value!r}")
        step = self._claim(name, kind, on_error)
        spec = AggregateSpec(init, add, key_serde(self._node), value or _JSON, result)
        return self._then(g.Stateful(step, (self._node,), spec))

    def window(
        self,
        window: Any,
        *,
        timestamp: Callable[[Any], int] | None = None,
        grace: int | timedelta = 0,
        lag: int | timedelta = 0,
        late: Topic | None = None,
        retention: int | timedelta | None = None,
    ) -> WindowedStream:
        """Group records by key and window, for an aggregation (``.count()``, ``.sum()``...).

        Args:
            window: :func:`strom.windows.tumbling`, :func:`~strom.windows.hopping`,
                :func:`~strom.windows.sliding`, :func:`~strom.windows.session` or
                :func:`~strom.windows.count`.
            timestamp: the event time (epoch ms) of a value; default the record's timestamp.
            grace: how long after its end a window still takes late records.
            lag: how far the watermark stays behind the largest event time seen
                (out-of-orderness allowed before grace counts).
            late: a topic for records that arrive after all their windows closed (default:
                counted in ``strom_late_records_total`` and dropped).
            retention: how long the store keeps windows (default: what the window and grace
                need); shorter than that is an error.

        Example:
            >>> import strom
            >>> from datetime import timedelta
            >>> app = strom.App("docs-window")
            >>> totals = (app.stream(app.topic("orders"))
            ...     .window(strom.windows.hopping(timedelta(minutes=10), timedelta(minutes=1)))
            ...     .sum(lambda o: o["amount"], name="amount-10m"))
        """
        from strom.dsl.windowed import WindowedStream, millis

        if timestamp is not None:
            _callable(timestamp, "window(timestamp=)")
        if late is not None:
            late = self._graph.check_topic(late, "window(late=)")
        return WindowedStream(
            self,
            window,
            timestamp,
            millis(grace, "window(grace=)"),
            late,
            millis(lag, "window(lag=)"),
            None if retention is None else millis(retention, "window(retention=)"),
        )

    def join(
        self,
        other: Any,
        joiner: Callable[[Any, Any], Any],
        *,
        how: str = "inner",
        window: Any = None,
        interval: Any = None,
        lookup_key: Callable[[Any], Any] | None = None,
        name: str | None = None,
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """Join this stream with a table, a global table or another stream.

        * ``other`` a :class:`~strom.dsl.table.Table` (from ``app.table``): each record is
          joined with the table's current row of its key (``how``: ``"inner"`` drops records
          without a row, ``"left"`` passes None); the stream never waits for the table. The
          two must be co-partitioned: a ``key_by`` before the join is repartitioned to the
          table's partition count.
        * ``other`` a :class:`~strom.dsl.table.GlobalTable`: the same, looked up by the
          record's key or ``lookup_key(value)``; nothing to co-partition.
        * ``other`` a :class:`Stream`: records of both sides with the same key whose times
          fall within ``window`` (:func:`strom.joins.within` / ``join_window``) or
          ``interval`` (:func:`strom.joins.interval`) of each other are joined, with the
          later timestamp; ``"left"``/``"outer"`` emit a record that found no match
          (with None) once its window closed.

        ``joiner(left_value, right_value)`` makes the output value; the key is the record's.
        Name the step: its stores and changelogs derive their names from it.

        Example:
            >>> import strom
            >>> from datetime import timedelta
            >>> app = strom.App("docs-join")
            >>> clicks = app.stream(app.topic("clicks"))
            >>> views = app.stream(app.topic("views"))
            >>> pairs = clicks.join(views, lambda c, v: {"click": c, "view": v},
            ...                     window=strom.joins.within(timedelta(seconds=10)),
            ...                     how="left", name="click-view")
        """
        from strom.dsl.table import GlobalTable, Table
        from strom.runtime.operators.joins import (
            GlobalJoinSpec,
            StreamTableJoinSpec,
            WindowJoinSpec,
        )

        _callable(joiner, "join")
        spec: Any
        if isinstance(other, Table):
            if window is not None or interval is not None:
                raise ConfigError("join(): a stream-table join takes no window or interval")
            if how not in ("inner", "left"):
                raise ConfigError(
                    f"join() with a table: how must be 'inner' or 'left', got {how!r}"
                )
            if other.source is None:
                raise ConfigError(
                    f"join(): table {other.name!r} is a join result, which is not materialised; "
                    "write it to a topic and read that with app.table() to look it up"
                )
            spec = StreamTableJoinSpec(other.source, other.views, joiner, how)
            parents: tuple[g.Node, ...] = (self._node, other.node)
        elif isinstance(other, GlobalTable):
            if how not in ("inner", "left"):
                raise ConfigError(
                    f"join() with a global table: how must be 'inner' or 'left', got {how!r}"
                )
            if lookup_key is not None:
                _callable(lookup_key, "join(lookup_key=)")
            spec = GlobalJoinSpec(other.topic.name, other.views, joiner, how, lookup_key)
            parents = (self._node,)
        elif isinstance(other, Stream):
            if other._graph is not self._graph:
                raise ConfigError(f"join(): stream {other.name!r} belongs to another application")
            if other._node is self._node:
                raise ConfigError("join(): a stream cannot be joined with itself")
            definition = window if window is not None else interval
            if definition is None or (window is not None and interval is not None):
                raise ConfigError(
                    "join() of two streams needs exactly one of window= "
                    "(strom.joins.within(...)) or interval= (strom.joins.interval(...)): "
                    "records of unbounded streams can only meet within a time range"
                )
            from strom.joins import Interval, JoinWindows

            if window is not None and not isinstance(window, JoinWindows):
                raise ConfigError(f"join(): window must be strom.joins.within(...), got {window!r}")
            if interval is not None and not isinstance(interval, Interval):
                raise ConfigError(
                    f"join(): interval must be strom.joins.interval(...), got {interval!r}"
                )
            allowed = ("inner", "left") if interval is not None else ("inner", "left", "outer")
            if how not in allowed:
                raise ConfigError(f"join(): how must be one of {allowed}, got {how!r}")
            spec = WindowJoinSpec(definition, joiner, how, key_serde(self._node), _JSON, _JSON)
            parents = (self._node, other._node)
        else:
            raise ConfigError(
                f"join() takes a Table, GlobalTable or Stream, got {type(other).__name__}"
            )
        step = self._claim(name, "join", on_error)
        return self._then(g.Stateful(step, parents, spec))

    def to_table(self, *, name: str | None = None, value: Serde[Any] | None = None) -> Table:
        """The stream read as a table: each record sets its key's row, a None value deletes
        it (see :meth:`strom.App.table`; ``value``: the rows' serde in the store, JSON by
        default). Name the step: the store and its changelog are named after it.

        Example:
            >>> import strom
            >>> app = strom.App("docs-to-table")
            >>> latest = app.stream(app.topic("readings")).map(lambda r: r["celsius"],
            ...     name="celsius").to_table(name="latest-celsius")
        """
        from strom.dsl.table import Table
        from strom.runtime.operators.joins import TableSpec

        if value is not None and not isinstance(value, Serde):
            raise ConfigError(f"to_table(): value= must be a Serde, got {value!r}")
        step = self._graph.names.claim(name, "table")
        node = g.Stateful(step, (self._node,), TableSpec(key_serde(self._node), value or _JSON))
        return Table(self._graph, node, node, ())

    def count(self, *, name: str | None = None) -> Stream:
        """The number of records seen per key, emitted on every record (see
        :meth:`aggregate`).

        Example:
            >>> import strom
            >>> app = strom.App("docs-count")
            >>> per_user = app.stream(app.topic("clicks")).count(name="clicks-per-user")
        """
        return self._rolling("count", _zero, _count_one, None, name, None, None)

    def to(
        self, topic: Any, *, name: str | None = None, on_error: ErrorPolicy | None = None
    ) -> None:
        """End the pipeline by writing each record to ``topic`` (a Topic of this application),
        with the record's key and timestamp, serialized with the topic's serdes."""
        topic = self._graph.check_topic(topic, "to()")
        node = g.To(self._claim(name, "to", on_error), (self._node,), topic)
        self._graph.add_terminal(node)

    def sink(
        self, sink: Sink, *, name: str | None = None, on_error: ErrorPolicy | None = None
    ) -> None:
        """End the pipeline by handing each record to ``sink`` (see :mod:`strom.sinks`)."""
        if not isinstance(sink, Sink):
            raise ConfigError(
                f"sink(): {type(sink).__name__} is not a Sink (it needs add() and flush())"
            )
        node = g.SinkStep(self._claim(name, "sink", on_error), (self._node,), sink)
        self._graph.add_terminal(node)

    def __repr__(self) -> str:
        return f"<Stream {self._node.name!r} of app {self._graph.app!r}>"


_JSON = json_serde()


def _zero() -> int:
    return 0


def _count_one(acc: int, _: Any) -> int:
    return acc + 1


def key_serde(node: g.Node) -> Serde[Any]:
    """The serde of the keys of the records ``node`` emits: the nearest key change upstream
    (a ``key_by``'s key serde, a source topic's, a stateful step's)."""
    stack = [node]
    seen: set[g.Node] = set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if isinstance(current, g.KeyBy):
            return current.key
        if isinstance(current, g.Source):
            return current.topic.key
        if isinstance(current, g.Stateful):
            stores = current.spec.stores(current.name)
            if stores:
                return stores[0].key  # type: ignore[no-any-return]
        stack.extend(current.parents)
    return _JSON
