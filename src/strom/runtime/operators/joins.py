"""Tables and joins as stateful steps, over the cores of :mod:`strom.joins`.

* A **table** step materialises its input (the latest value per key; a None value deletes)
  in a key-value store and emits each :class:`~strom.joins.TableChange` downstream, where
  table views (filter, map_values), ``to_stream`` and table-table joins use them.
* A **stream-table join** looks each stream record up in a table of the same task (the
  table's store, seen through the views between the table and the join); table updates emit
  nothing (the stream side never waits).
* A **table-table join** recomputes a key's row when either side changes.
* **Windowed** and **interval** stream-stream joins buffer both sides in window stores.
* A **global-table join** looks records up in a table that holds every partition of its
  topic, kept by the process (see :mod:`strom.runtime.global_tables`).

Example:
    >>> from strom.serde import string, json
    >>> from strom.state import open_key_value_store
    >>> from strom.joins import stamped_serde
    >>> table = TableSpec(string(), json())
    >>> (spec,) = table.stores("users")
    >>> op = table.build({"users": open_key_value_store("users", 0, string(), spec.value)})
    >>> op.process("u1", {"tier": "pro"}, 5, 0)
    [Emit(key='u1', value=TableChange(key='u1', old=None, new={'tier': 'pro'}, timestamp=5), timestamp=5)]
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from strom.errors import ConfigError, StromError
from strom.joins import (
    GlobalTableJoin,
    Interval,
    IntervalJoin,
    JoinWindows,
    StreamTableJoin,
    TableChange,
    TableCore,
    TableTableJoin,
    WindowedJoin,
    buffer_serde,
    stamped_serde,
)
from strom.joins.codec import Stamped
from strom.runtime.operators.base import LATE, BuildContext, Emit, Late, StoreSpec
from strom.serde.base import Serde
from strom.state.protocols import StateStore

View = Callable[[Any], Any]
"""A value-level view of a table: a filter or a mapper (None stays None)."""


def filter_view(predicate: Callable[[Any], object]) -> View:
    """The view of a table filter: values that fail become None (no row)."""

    def view(value: Any) -> Any:
        return value if predicate(value) else None

    return view


class TableLookup:
    """A table seen through views: ``get``/``get_stamped`` apply them to the stored value."""

    def __init__(self, core: TableCore[Any, Any], views: Sequence[View]) -> None:
        self._core = core
        self._views = tuple(views)

    def _through(self, value: Any) -> Any:
        for view in self._views:
            if value is None:
                return None
            value = view(value)
        return value

    def get(self, key: Any) -> Any:
        """The row's value through the views, or None."""
        return self._through(self._core.get(key))

    def get_stamped(self, key: Any) -> Stamped[Any] | None:
        """The row's value through the views with its update's timestamp, or None."""
        found = self._core.get_stamped(key)
        if found is None:
            return None
        value = self._through(found.value)
        return None if value is None else Stamped(value, found.timestamp)


def _emit(out: Any) -> Emit:
    return Emit(out.key, out.value, out.timestamp)


def _change(change: TableChange[Any, Any] | None) -> list[Emit]:
    return [] if change is None else [Emit(change.key, change, change.timestamp)]


class _Timeless:
    """Operators without windows: nothing closes, nothing to rebuild."""

    deadline: int | None = None

    def advance(self, watermark: int) -> list[Emit]:
        return []

    def reset(self) -> None:
        return None

    def restored_watermark(self) -> int | None:
        return None


# -- tables ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table over its input: key and value serdes of the store."""

    key: Serde[Any]
    value: Serde[Any]

    def stores(self, step: str) -> Sequence[StoreSpec]:
        """One key-value store of (value, timestamp) per key."""
        return [StoreSpec(step, "key-value", self.key, stamped_serde(self.value))]

    def present(self, stamped: Any) -> Any:
        """What a query shows for a row: its value."""
        return stamped.value

    def build(
        self, stores: Mapping[str, StateStore], context: BuildContext | None = None
    ) -> TableOperator:
        """The table of one task."""
        (store,) = stores.values()
        return TableOperator(TableCore(store))  # type: ignore[arg-type]


class TableOperator(_Timeless):
    """Applies each record to the table; emits the change."""

    def __init__(self, core: TableCore[Any, Any]) -> None:
        self.core = core
        self._upsert = core.upsert

    def process(self, key: Any, value: Any, timestamp: int, watermark: int) -> list[Emit]:
        """Upsert (None: delete) and emit the :class:`~strom.joins.TableChange`."""
        return _change(self._upsert(key, value, timestamp))


# -- stream-table -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamTableJoinSpec:
    """A stream joined with a table of the same task (co-partitioned)."""

    table: Any
    """The table's graph node (a stateful node with a :class:`TableSpec`)."""
    views: tuple[View, ...]
    joiner: Callable[[Any, Any], Any]
    how: str

    def stores(self, step: str) -> Sequence[StoreSpec]:
        """None of its own: it reads the table's."""
        return []

    def build(self, stores: Mapping[str, StateStore], context: BuildContext) -> StreamTableOperator:
        """Over the table operator of the same task."""
        table = context.operators.get(self.table)
        if not isinstance(table, TableOperator):
            raise StromError("a stream-table join was built before its table (a bug)")
        lookup = TableLookup(table.core, self.views)
        return StreamTableOperator(StreamTableJoin(lookup, self.joiner, how=self.how))  # type: ignore[arg-type]


class StreamTableOperator(_Timeless):
    """Left port: stream records, joined; right port: the table's changes, ignored."""

    def __init__(self, core: StreamTableJoin[Any, Any, Any, Any]) -> None:
        self._process = core.process

    def process(self, key: Any, value: Any, timestamp: int, watermark: int) -> list[Emit]:
        """The joined record, or nothing (inner join, no row)."""
        out = self._process(key, value, timestamp)
        return [] if out is None else [Emit(out.key, out.value, out.timestamp)]

    def process_right(self, key: Any, value: Any, timestamp: int, watermark: int) -> list[Emit]:
        """A table update: the stream side never waits, so nothing is emitted."""
        return []


# -- table-table ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableTableJoinSpec:
    """Two tables of the same task joined; the result is a table (of changes)."""

    left: Any
    left_views: tuple[View, ...]
    right: Any
    right_views: tuple[View, ...]
    joiner: Callable[[Any, Any], Any]
    how: str

    def stores(self, step: str) -> Sequence[StoreSpec]:
        """None of its own: it reads both tables'."""
        return []

    def build(self, stores: Mapping[str, StateStore], context: BuildContext) -> TableTableOperator:
        """Over both tables' operators in the same task."""
        sides = [context.operators.get(self.left), context.operators.get(self.right)]
        if not all(isinstance(s, TableOperator) for s in sides):
            raise StromError("a table-table join was built before its tables (a bug)")
        left = TableLookup(sides[0].core, self.left_views)  # type: ignore[union-attr]
        right = TableLookup(sides[1].core, self.right_views)  # type: ignore[union-attr]
        core: TableTableJoin[Any, Any, Any, Any] = TableTableJoin(
            left,  # type: ignore[arg-type]
            right,  # type: ignore[arg-type]
            self.joiner,
            how=self.how,
        )
        return TableTableOperator(core)


class TableTableOperator(_Timeless):
    """Each port takes its side's :class:`~strom.joins.TableChange` (after its views)."""

    def __init__(self, core: TableTableJoin[Any, Any, Any, Any]) -> None:
        self._left = core.on_left
        self._right = core.on_right

    def process(self, key: Any, change: Any, timestamp: int, watermark: int) -> list[Emit]:
        """A change of the left table: the result row's change."""
        return _change(self._left(change))

    def process_right(self, key: Any, change: Any, timestamp: int, watermark: int) -> list[Emit]:
        """A change of the right table: the result row's change."""
        return _change(self._right(change))


# -- stream-stream ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowJoinSpec:
    """A windowed (``within``/``join_window``) or interval join of two streams."""

    definition: JoinWindows | Interval
    joiner: Callable[[Any, Any], Any]
    how: str
    key: Serde[Any]
    left_value: Serde[Any]
    right_value: Serde[Any]

    def stores(self, step: str) -> Sequence[StoreSpec]:
        """A window store per side: ``<step>-left`` and ``<step>-right``."""
        d = self.definition
        return [
            StoreSpec(
                f"{step}-{side}",
                "window",
                self.key,
                buffer_serde(serde),
                segment_interval=d.segment_interval,
                retention_ms=d.retention_ms,
            )
            for side, serde in (("left", self.left_value), ("right", self.right_value))
        ]

    def build(
        self, stores: Mapping[str, StateStore], context: BuildContext | None = None
    ) -> WindowJoinOperator:
        """Over the task's two buffers."""
        left, right = (stores[n] for n in sorted(stores))  # "-left" sorts before "-right"
        core: WindowedJoin[Any, Any, Any, Any] | IntervalJoin[Any, Any, Any, Any]
        if isinstance(self.definition, Interval):
            core = IntervalJoin(left, right, self.joiner, bounds=self.definition, how=self.how)  # type: ignore[arg-type]
        else:
            core = WindowedJoin(left, right, self.joiner, window=self.definition, how=self.how)  # type: ignore[arg-type]
        return WindowJoinOperator(core)


class WindowJoinOperator:
    """Both ports join and buffer; the watermark closes windows (unmatched records of left
    and outer joins are emitted then)."""

    def __init__(
        self, core: WindowedJoin[Any, Any, Any, Any] | IntervalJoin[Any, Any, Any, Any]
    ) -> None:
        self._core = core
        self._left = core.process_left
        self._right = core.process_right

    @property
    def deadline(self) -> int | None:
        """When the next buffered record's window closes."""
        return self._core.deadline

    def process(self, key: Any, value: Any, timestamp: int, watermark: int) -> list[Emit] | Late:
        """A left record."""
        return _result(self._left(key, value, timestamp, watermark))

    def process_right(
        self, key: Any, value: Any, timestamp: int, watermark: int
    ) -> list[Emit] | Late:
        """A right record."""
        return _result(self._right(key, value, timestamp, watermark))

    def advance(self, watermark: int) -> list[Emit]:
        """Emit what the watermark closes."""
        return [_emit(o) for o in self._core.advance(watermark)]

    def before_checkpoint(self) -> None:
        """Expire what is closed, so the stores say exactly which watermark they reflect."""
        self._core.expire()

    def reset(self) -> None:
        """The stores dropped uncommitted writes: rebuild the index."""
        self._core.reset()

    def restored_watermark(self) -> int | None:
        """What the restored stores imply."""
        return self._core.restored_watermark()


def _result(result: Any) -> list[Emit] | Late:
    outputs = [_emit(o) for o in result.outputs]
    if result.late:
        return Late(tuple(outputs)) if outputs else LATE
    return outputs


# -- global tables ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GlobalJoinSpec:
    """A stream joined with a global table (every partition of its topic, in every task)."""

    topic: str
    views: tuple[View, ...]
    joiner: Callable[[Any, Any], Any]
    how: str
    lookup_key: Callable[[Any], Any] | None = field(default=None)

    def stores(self, step: str) -> Sequence[StoreSpec]:
        """None: the process keeps the global table."""
        return []

    def build(self, stores: Mapping[str, StateStore], context: BuildContext) -> GlobalJoinOperator:
        """Over the process's copy of the table."""
        core = context.global_tables.get(self.topic)
        if core is None:
            raise ConfigError(f"global table {self.topic!r} is not loaded (a bug)")
        lookup = TableLookup(core, self.views)
        join: GlobalTableJoin[Any, Any, Any, Any, Any] = GlobalTableJoin(
            lookup,  # type: ignore[arg-type]
            self.joiner,
            how=self.how,
            lookup_key=self.lookup_key,
        )
        return GlobalJoinOperator(join)


class GlobalJoinOperator(_Timeless):
    """Looks each stream record up in the global table."""

    def __init__(self, core: GlobalTableJoin[Any, Any, Any, Any, Any]) -> None:
        self._process = core.process

    def process(self, key: Any, value: Any, timestamp: int, watermark: int) -> list[Emit]:
        """The joined record, or nothing (inner join, no row)."""
        out = self._process(key, value, timestamp)
        return [] if out is None else [Emit(out.key, out.value, out.timestamp)]
