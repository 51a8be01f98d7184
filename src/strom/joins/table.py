"""Table materialisation: the latest value per key of a changelog-like input.

A table is a topic read as updates: each record sets its key's value, a tombstone (None value)
deletes it. :class:`TableCore` keeps the latest value per key, with the event time of the
update that set it, in a :class:`~strom.state.KeyValueStore` (values in the
:func:`~strom.joins.codec.stamped_serde` layout), and returns each update as a
:class:`~strom.joins.TableChange` (key, old, new, timestamp) so that the table operators after
it — filter, map_values, table-table joins, ``to_stream`` — can propagate it.

Updates apply in arrival order (last arrival wins, whatever their timestamps), as Kafka
Streams' non-versioned tables do. Every update is returned, an unchanged value too; only a
delete of an absent key returns None (nothing was visible before or after).

Example:
    >>> from strom.serde import string, json
    >>> from strom.state import open_key_value_store
    >>> from strom.joins import TableCore, stamped_serde
    >>> users = TableCore(open_key_value_store("users", 0, string(), stamped_serde(json())))
    >>> users.upsert("u1", {"tier": "free"}, 10)
    TableChange(key='u1', old=None, new={'tier': 'free'}, timestamp=10)
    >>> users.upsert("u1", {"tier": "pro"}, 20)
    TableChange(key='u1', old={'tier': 'free'}, new={'tier': 'pro'}, timestamp=20)
    >>> users.get("u1"), users.get_stamped("u1").timestamp
    ({'tier': 'pro'}, 20)
    >>> users.upsert("u1", None, 30)
    TableChange(key='u1', old={'tier': 'pro'}, new=None, timestamp=30)
    >>> users.upsert("u2", None, 40) is None       # deleting an absent key changes nothing
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from strom.errors import StateError
from strom.joins.codec import Stamped
from strom.joins.types import TableChange
from strom.state.protocols import KeyValueStore

K = TypeVar("K")
V = TypeVar("V")


class TableCore(Generic[K, V]):
    """The latest value per key of a table, over a key-value store.

    Args:
        store: the table's store partition, opened with the table's key serde and
            ``stamped_serde(value serde)``. The core keeps nothing else: a core built over a
            restored store continues where the previous one stopped.
    """

    __slots__ = ("_delete", "_get", "_put", "store")

    def __init__(self, store: KeyValueStore[K, Stamped[V]]) -> None:
        self.store = store
        self._get = store.get
        self._put = store.put
        self._delete = store.delete

    def upsert(self, key: K, value: V | None, timestamp: int) -> TableChange[K, V] | None:
        """Set ``key`` to ``value`` (None: delete it) as of ``timestamp``; return the change.

        Returns None only when a delete finds no value (nothing changes). Raises
        :class:`~strom.errors.StateError` for a None key: a table row needs a key.
        """
        if key is None:
            raise StateError(
                f"table {self.store.name!r} partition {self.store.partition}: a table update "
                "needs a key (got None); records without a key cannot update a table"
            )
        before = self._get(key)
        old = None if before is None else before.value
        if value is None:
            if before is None:
                return None
            self._delete(key)
        else:
            self._put(key, Stamped(value, timestamp))
        return TableChange(key, old, value, timestamp)

    def apply(self, change: TableChange[K, V]) -> TableChange[K, V] | None:
        """Materialise an upstream change (e.g. a filtered or joined table): its new value.

        The returned change's ``old`` is what this store held, which is the upstream's old
        value when both saw the same updates.
        """
        return self.upsert(change.key, change.new, change.timestamp)

    def get(self, key: K) -> V | None:
        """The current value of ``key``, or None."""
        if key is None:
            return None
        found = self._get(key)
        return None if found is None else found.value

    def get_stamped(self, key: K) -> Stamped[V] | None:
        """The current value of ``key`` with the timestamp of its update, or None."""
        if key is None:
            return None
        return self._get(key)

    def items(self) -> Iterator[tuple[K, Stamped[V]]]:
        """Every row, in serialized-key order (for queries and tests)."""
        return self.store.items()
