"""Tables and joins: the runtime-independent cores over strom's state stores.

- :class:`TableCore`: the latest value per key of a table (tombstones delete), returning
  :class:`TableChange` (key, old, new, timestamp); :class:`TableFilter`,
  :class:`TableMapValues` and :func:`to_stream` propagate changes with Kafka Streams' semantics.
- :class:`StreamTableJoin` (inner, left) and :class:`GlobalTableJoin`: enrich a stream from a
  table's current value.
- :class:`WindowedJoin` (inner, left, outer over :func:`within` / :func:`join_window`) and
  :class:`IntervalJoin` (inner, left over :func:`interval`): stream-stream joins buffered in
  window stores, driven by the watermark.
- :class:`TableTableJoin` (inner, left, outer): a table of joined rows.

Each core holds its state in the stores it is given (see :mod:`strom.joins.stores`), so a new
core over restored stores continues exactly where the last one stopped. Semantics, timestamps
and lateness: ``docs/joins.md``.

Example:
    >>> from strom.serde import string, json
    >>> from strom import joins
    >>> users = joins.TableCore(joins.open_table_store("users", 0, string(), json()))
    >>> _ = users.upsert("u1", {"tier": "pro"}, 1)
    >>> enrich = joins.StreamTableJoin(users, lambda o, u: {**o, "tier": u["tier"]})
    >>> enrich.process("u1", {"order": 7}, 10)
    Output(key='u1', value={'order': 7, 'tier': 'pro'}, timestamp=10)
"""

from strom.joins.buffered import BufferedJoin, JoinResult
from strom.joins.codec import (
    Buffered,
    Stamped,
    buffer_serde,
    stamped_serde,
    table_changelog_record,
)
from strom.joins.definitions import Interval, JoinWindows, interval, join_window, within
from strom.joins.global_table import GlobalTableJoin
from strom.joins.interval_join import IntervalJoin
from strom.joins.stores import open_join_stores, open_table_store
from strom.joins.stream_table import StreamTableJoin
from strom.joins.table import TableCore
from strom.joins.table_table import TableTableJoin
from strom.joins.types import Output, TableChange
from strom.joins.views import TableFilter, TableMapValues, to_stream
from strom.joins.windowed import WindowedJoin

__all__ = [
    "Buffered",
    "BufferedJoin",
    "GlobalTableJoin",
    "Interval",
    "IntervalJoin",
    "JoinResult",
    "JoinWindows",
    "Output",
    "Stamped",
    "StreamTableJoin",
    "TableChange",
    "TableCore",
    "TableFilter",
    "TableMapValues",
    "TableTableJoin",
    "WindowedJoin",
    "buffer_serde",
    "interval",
    "join_window",
    "open_join_stores",
    "open_table_store",
    "stamped_serde",
    "table_changelog_record",
    "to_stream",
    "within",
]
