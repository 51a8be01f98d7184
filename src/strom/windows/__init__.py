"""Windows and windowed aggregations: definitions, aggregations and the per-task operator.

- Definitions (:mod:`strom.windows.definitions`): :func:`tumbling`, :func:`hopping`,
  :func:`sliding`, :func:`session`, :func:`count`; checked when written.
- Aggregations (:mod:`strom.windows.aggregations`): ``count``, ``sum``, ``min``, ``max``,
  ``mean``, ``first``, ``last``, ``collect`` and custom ``aggregate``.
- The operator :class:`WindowedAggregation`, one per task over the store partition that
  :func:`store_spec` describes; it outputs :class:`WindowResult` values, or :data:`LATE`.

Time, watermarks, bounds and lateness are those of the project's ``STATE_AND_TIME.md``; the
details are in ``docs/windows.md``.

Example:
    >>> from datetime import timedelta
    >>> from strom import windows
    >>> from strom.windows import aggregations as agg
    >>> from strom.serde import string
    >>> from strom.state import open_window_store
    >>> window = windows.tumbling(timedelta(minutes=5))
    >>> spec = windows.store_spec(window, agg.count(), grace=timedelta(seconds=30))
    >>> store = open_window_store("logins-per-5m", 0, string(), spec.value_serde,
    ...                           segment_interval=spec.segment_interval)
    >>> op = windows.WindowedAggregation(window, agg.count(), store, grace=timedelta(seconds=30))
    >>> for t in (10_000, 20_000, 290_000):
    ...     _ = op.process("user-1", {"action": "login"}, t, watermark=t)
    >>> op.advance(330_000)
    [WindowResult(key='user-1', start=0, end=300000, value=3, timestamp=299999, tombstone=False)]
"""

from strom.windows import aggregations
from strom.windows.aggregations import Aggregation
from strom.windows.cores.base import NO_WATERMARK
from strom.windows.definitions import (
    Count,
    Hopping,
    Session,
    Sliding,
    Tumbling,
    WindowDefinition,
    count,
    hopping,
    session,
    sliding,
    tumbling,
)
from strom.windows.durations import check_grace, to_millis
from strom.windows.operator import EMIT_MODES, WindowedAggregation
from strom.windows.results import LATE, Late, WindowResult
from strom.windows.stores import StoreSpec, check_retention, required_retention, store_spec

__all__ = [
    "EMIT_MODES",
    "LATE",
    "NO_WATERMARK",
    "Aggregation",
    "Count",
    "Hopping",
    "Late",
    "Session",
    "Sliding",
    "StoreSpec",
    "Tumbling",
    "WindowDefinition",
    "WindowResult",
    "WindowedAggregation",
    "aggregations",
    "check_grace",
    "check_retention",
    "count",
    "hopping",
    "required_retention",
    "session",
    "sliding",
    "store_spec",
    "to_millis",
    "tumbling",
]
