"""Stream-table join: enrich each stream record with the table's current value for its key.

The stream side never waits: each record looks the table up once, as it is at that moment
(updates the table receives later do not revisit earlier records, and table updates emit
nothing). The output keeps the stream record's key and timestamp; its value is
``joiner(stream_value, table_value)``.

- ``how="inner"``: no output when the table has no value for the key (or the key is None).
- ``how="left"``: always one output; ``table_value`` is None when missing.

Both inputs must be co-partitioned (same key, same number of partitions, same partitioner):
the runtime checks that; a :class:`~strom.joins.GlobalTableJoin` needs no co-partitioning.

Example:
    >>> from strom.serde import string, json
    >>> from strom.state import open_key_value_store
    >>> from strom.joins import StreamTableJoin, TableCore, stamped_serde
    >>> users = TableCore(open_key_value_store("users", 0, string(), stamped_serde(json())))
    >>> _ = users.upsert("u1", {"tier": "pro"}, 5)
    >>> enrich = StreamTableJoin(users, lambda order, user: (order, user and user["tier"]),
    ...                          how="left")
    >>> enrich.process("u1", "order-1", 100)
    Output(key='u1', value=('order-1', 'pro'), timestamp=100)
    >>> enrich.process("u2", "order-2", 101)
    Output(key='u2', value=('order-2', None), timestamp=101)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from strom.joins.table import TableCore
from strom.joins.types import Output, check_how, check_joiner

K = TypeVar("K")
V = TypeVar("V")
VT = TypeVar("VT")
R = TypeVar("R")

STREAM_TABLE_HOWS = ("inner", "left")


class StreamTableJoin(Generic[K, V, VT, R]):
    """Join stream records with a co-partitioned table (see module doc).

    Args:
        table: the table's core (its store partition = the stream's partition).
        joiner: ``(stream_value, table_value) -> output value``.
        how: ``"inner"`` or ``"left"``.
    """

    __slots__ = ("_get", "_joiner", "_left", "how", "table")

    def __init__(
        self,
        table: TableCore[K, VT],
        joiner: Callable[[V, VT | None], R],
        *,
        how: str = "inner",
    ) -> None:
        where = "stream-table join"
        check_joiner(joiner, where)
        self.how = check_how(how, STREAM_TABLE_HOWS, where)
        self.table = table
        self._joiner = joiner
        self._left = how == "left"
        self._get = table.get

    def process(self, key: K, value: V, timestamp: int) -> Output[K, R] | None:
        """The joined record for one stream record, or None (inner join, no table value)."""
        found = self._get(key)
        if found is None and not self._left:
            return None
        return Output(key, self._joiner(value, found), timestamp)
