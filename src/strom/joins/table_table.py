"""Table-table join: a table whose rows are the join of two co-partitioned tables' rows.

The result row of a key is recomputed whenever either side of that key changes, from the
change (the side's old and new value) and the other side's current value:

| how | a row exists when | its value |
|---|---|---|
| ``inner`` | both sides have a value | ``joiner(left, right)`` |
| ``left`` | the left side has a value | ``joiner(left, right or None)`` |
| ``outer`` | either side has a value | ``joiner(left or None, right or None)`` |

Each recomputation is one :class:`~strom.joins.TableChange` with the old row (the joiner
applied to the side's old value) and the new row; a row that disappears becomes a tombstone
(``new`` None), and a change that leaves no row before or after emits nothing. The output
timestamp is the larger of the update's and the other side's current value's.

Each side is materialised in a :class:`~strom.joins.TableCore`; the join only reads the other
side's store. :meth:`TableTableJoin.upsert_left` / ``upsert_right`` update a side and join.

Example:
    >>> from strom.serde import string, json
    >>> from strom.state import open_key_value_store
    >>> from strom.joins import TableCore, TableTableJoin, stamped_serde
    >>> def table(name):
    ...     return TableCore(open_key_value_store(name, 0, string(), stamped_serde(json())))
    >>> join = TableTableJoin(table("users"), table("limits"), lambda u, l: (u, l), how="left")
    >>> join.upsert_left("u1", "ann", 10)
    TableChange(key='u1', old=None, new=('ann', None), timestamp=10)
    >>> join.upsert_right("u1", 500, 20)
    TableChange(key='u1', old=('ann', None), new=('ann', 500), timestamp=20)
    >>> join.upsert_left("u1", None, 30)                       # the row disappears
    TableChange(key='u1', old=('ann', 500), new=None, timestamp=30)
    >>> join.upsert_right("u1", None, 40) is None              # no row before or after
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from strom.joins.table import TableCore
from strom.joins.types import TableChange, check_how, check_joiner

K = TypeVar("K")
VL = TypeVar("VL")
VR = TypeVar("VR")
R = TypeVar("R")

TABLE_TABLE_HOWS = ("inner", "left", "outer")


class TableTableJoin(Generic[K, VL, VR, R]):
    """Join two co-partitioned tables (see module doc).

    Args:
        left: the left table's core.
        right: the right table's core.
        joiner: ``(left_value, right_value) -> row value``.
        how: ``"inner"``, ``"left"`` or ``"outer"``.
    """

    __slots__ = ("_joiner", "_left_keeps", "_right_keeps", "how", "left", "right")

    def __init__(
        self,
        left: TableCore[K, VL],
        right: TableCore[K, VR],
        joiner: Callable[[VL | None, VR | None], R],
        *,
        how: str = "inner",
    ) -> None:
        where = "table-table join"
        check_joiner(joiner, where)
        self.how = check_how(how, TABLE_TABLE_HOWS, where)
        self.left = left
        self.right = right
        self._joiner = joiner
        # Whether a row exists with only the left (right) side present.
        self._left_keeps = how in ("left", "outer")
        self._right_keeps = how == "outer"

    def on_left(self, change: TableChange[K, VL] | None) -> TableChange[K, R] | None:
        """The result change for a change of the left table (None: no row before or after)."""
        if change is None:
            return None
        other = self.right.get_stamped(change.key)
        joiner = self._joiner
        if other is None:
            keeps = self._left_keeps
            old = joiner(change.old, None) if keeps and change.old is not None else None
            new = joiner(change.new, None) if keeps and change.new is not None else None
            timestamp = change.timestamp
        else:
            keeps = self._right_keeps
            right = other.value
            old = joiner(change.old, right) if keeps or change.old is not None else None
            new = joiner(change.new, right) if keeps or change.new is not None else None
            timestamp = max(change.timestamp, other.timestamp)
        return self._change(change.key, old, new, timestamp)

    def on_right(self, change: TableChange[K, VR] | None) -> TableChange[K, R] | None:
        """The result change for a change of the right table (None: no row before or after)."""
        if change is None:
            return None
        other = self.left.get_stamped(change.key)
        joiner = self._joiner
        if other is None:
            keeps = self._right_keeps
            old = joiner(None, change.old) if keeps and change.old is not None else None
            new = joiner(None, change.new) if keeps and change.new is not None else None
            timestamp = change.timestamp
        else:
            keeps = self._left_keeps
            left = other.value
            old = joiner(left, change.old) if keeps or change.old is not None else None
            new = joiner(left, change.new) if keeps or change.new is not None else None
            timestamp = max(change.timestamp, other.timestamp)
        return self._change(change.key, old, new, timestamp)

    def upsert_left(self, key: K, value: VL | None, timestamp: int) -> TableChange[K, R] | None:
        """Update the left table (None: delete) and return the result change."""
        return self.on_left(self.left.upsert(key, value, timestamp))

    def upsert_right(self, key: K, value: VR | None, timestamp: int) -> TableChange[K, R] | None:
        """Update the right table (None: delete) and return the result change."""
        return self.on_right(self.right.upsert(key, value, timestamp))

    @staticmethod
    def _change(key: Any, old: Any, new: Any, timestamp: int) -> TableChange[Any, Any] | None:
        if old is None and new is None:
            return None
        return TableChange(key, old, new, timestamp)
