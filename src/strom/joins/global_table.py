"""Global-table join: enrich a stream from a small table that every task holds whole.

A global table's store holds every partition of its topic (the runtime fills it, in every
instance, from the topic itself: :func:`~strom.joins.codec.table_changelog_record`), so there
is nothing to co-partition: the lookup key may come from the record's value
(``lookup_key``), not only from its key. Otherwise the semantics are the stream-table join's:
the stream never waits, the table's current value is used, the output keeps the stream's key
and timestamp.

Example:
    >>> from strom.serde import string, json
    >>> from strom.state import open_key_value_store
    >>> from strom.joins import GlobalTableJoin, TableCore, stamped_serde
    >>> countries = TableCore(open_key_value_store("countries", 0, string(),
    ...                                            stamped_serde(json())))
    >>> _ = countries.upsert("de", "Germany", 0)
    >>> join = GlobalTableJoin(countries, lambda order, name: {**order, "country": name},
    ...                        lookup_key=lambda order: order["country_code"])
    >>> join.process("order-7", {"country_code": "de"}, 42)
    Output(key='order-7', value={'country_code': 'de', 'country': 'Germany'}, timestamp=42)
    >>> join.process("order-8", {"country_code": "fr"}, 43) is None      # inner: no match
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from strom.joins.stream_table import STREAM_TABLE_HOWS
from strom.joins.table import TableCore
from strom.joins.types import Output, check_function, check_how, check_joiner

K = TypeVar("K")
V = TypeVar("V")
KT = TypeVar("KT")
VT = TypeVar("VT")
R = TypeVar("R")


class GlobalTableJoin(Generic[K, V, KT, VT, R]):
    """Join stream records with a global table (see module doc).

    Args:
        table: the global table's core (its store holds every partition of the topic).
        joiner: ``(stream_value, table_value) -> output value``.
        how: ``"inner"`` or ``"left"`` (``table_value`` None when missing).
        lookup_key: ``stream_value -> table key``; default: the stream record's key.
    """

    __slots__ = ("_get", "_joiner", "_left", "_lookup", "how", "table")

    def __init__(
        self,
        table: TableCore[KT, VT],
        joiner: Callable[[V, VT | None], R],
        *,
        how: str = "inner",
        lookup_key: Callable[[V], KT] | None = None,
    ) -> None:
        where = "global-table join"
        check_joiner(joiner, where)
        self.how = check_how(how, STREAM_TABLE_HOWS, where)
        self._lookup: Callable[[Any], Any] | None = (
            None if lookup_key is None else check_function(lookup_key, "lookup_key", where)
        )
        self.table = table
        self._joiner = joiner
        self._left = how == "left"
        self._get = table.get

    def process(self, key: K, value: V, timestamp: int) -> Output[K, R] | None:
        """The joined record for one stream record, or None (inner join, no table value)."""
        lookup = self._lookup
        found = self._get(key if lookup is None else lookup(value))  # type: ignore[arg-type]
        if found is None and not self._left:
            return None
        return Output(key, self._joiner(value, found), timestamp)
