"""Stateless table operators: ``filter``, ``map_values`` and ``to_stream`` on table changes.

They work on :class:`~strom.joins.TableChange` (old and new value) with Kafka Streams'
semantics when old values are sent:

- **filter**: a row is visible when its value passes the predicate. An update whose new value
  fails forwards a tombstone for the key *if the old value was visible* (so downstream forgets
  it), and nothing if the key was not visible before either.
- **map_values**: the mapper applies to the new and the old value (None stays None: a delete
  stays a delete); the key and timestamp are unchanged.
- **to_stream**: the new value as a stream record (None for a delete).

User functions take the value only, like the rest of strom's DSL.

Example:
    >>> from strom.joins import TableChange, TableFilter, TableMapValues
    >>> pro = TableFilter(lambda user: user["tier"] == "pro")
    >>> pro(TableChange("u1", None, {"tier": "free"}, 1)) is None     # never visible
    True
    >>> pro(TableChange("u1", {"tier": "free"}, {"tier": "pro"}, 2))
    TableChange(key='u1', old=None, new={'tier': 'pro'}, timestamp=2)
    >>> pro(TableChange("u1", {"tier": "pro"}, {"tier": "free"}, 3))   # leaves: a tombstone
    TableChange(key='u1', old={'tier': 'pro'}, new=None, timestamp=3)
    >>> TableMapValues(lambda user: user["tier"])(TableChange("u1", {"tier": "pro"}, None, 4))
    TableChange(key='u1', old='pro', new=None, timestamp=4)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from strom.joins.types import Output, TableChange, check_function

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


class TableFilter(Generic[V]):
    """Keep the rows whose value passes ``predicate`` (see module doc)."""

    __slots__ = ("_predicate",)

    def __init__(self, predicate: Callable[[V], Any]) -> None:
        self._predicate = check_function(predicate, "the table filter's predicate", "filter")

    def __call__(self, change: TableChange[K, V]) -> TableChange[K, V] | None:
        """The filtered change, or None when the key is visible neither before nor after."""
        keep = self._predicate
        key, old, new, timestamp = change
        new_out = new if new is not None and keep(new) else None
        old_out = old if old is not None and keep(old) else None
        if new_out is None and old_out is None:
            return None
        return TableChange(key, old_out, new_out, timestamp)


class TableMapValues(Generic[V, R]):
    """Map every row's value with ``mapper`` (see module doc)."""

    __slots__ = ("_mapper",)

    def __init__(self, mapper: Callable[[V], R]) -> None:
        self._mapper = check_function(mapper, "the table's value mapper", "map_values")

    def __call__(self, change: TableChange[K, V]) -> TableChange[K, R]:
        """The change with both values mapped (None stays None)."""
        mapper = self._mapper
        key, old, new, timestamp = change
        return TableChange(
            key,
            None if old is None else mapper(old),
            None if new is None else mapper(new),
            timestamp,
        )


def to_stream(change: TableChange[K, V]) -> Output[K, V | None]:
    """A table change as a stream record: key, new value (None for a delete), timestamp."""
    return change.to_output()
