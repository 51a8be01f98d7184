"""The windowed-aggregation operator of one task: records in, window results out.

The runtime creates one :class:`WindowedAggregation` per task (= per store partition), with the
store it opened from :func:`~strom.windows.store_spec` (after restoring it), and drives it:

- ``process(key, value, timestamp, watermark)`` for each record, ``watermark`` being the task's
  watermark *before* the record. Returns the changed windows' results (emit ``"updates"``), or
  nothing (``"final"``), or :data:`~strom.windows.LATE` when every window of the record has
  closed: the record was not aggregated; count it, drop it or send it to the late output.
- ``advance(watermark)`` when the watermark moves (once per polled batch is enough; it costs
  one heap look-up when nothing closes): closes every window the watermark has passed, returns
  their final results (``"final"``) ordered by (end, key bytes, start), and expires them in the
  store.

Everything it needs lives in the store: after a restart, a new instance over the restored store
resumes where the changelog left off (its in-memory index is rebuilt on first use).

Example:
    >>> from strom import windows
    >>> from strom.windows import aggregations as agg
    >>> from strom.serde import string
    >>> from strom.state import open_window_store
    >>> window, total = windows.tumbling(60_000), agg.sum(lambda e: e["amount"])
    >>> spec = windows.store_spec(window, total, grace=5_000)
    >>> store = open_window_store("sales", 0, string(), spec.value_serde,
    ...                           segment_interval=spec.segment_interval)
    >>> op = windows.WindowedAggregation(window, total, store, emit="final", grace=5_000)
    >>> op.process("shop-1", {"amount": 3}, 1_000, watermark=windows.NO_WATERMARK)
    []
    >>> op.process("shop-1", {"amount": 4}, 59_000, watermark=1_000)
    []
    >>> op.advance(64_999)
    []
    >>> op.advance(65_000)
    [WindowResult(key='shop-1', start=0, end=60000, value=7, timestamp=59999, tombstone=False)]
    >>> op.process("shop-1", {"amount": 1}, 30_000, watermark=65_000), op.late_records
    (LATE, 1)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from strom.errors import ConfigError
from strom.windows.aggregations import Aggregation
from strom.windows.cores.base import TimeCore
from strom.windows.cores.counting import CountCore
from strom.windows.cores.fixed import FixedCore
from strom.windows.cores.sessions import SessionCore
from strom.windows.cores.sliding import SlidingCore
from strom.windows.definitions import Count, Hopping, Session, Sliding, Tumbling
from strom.windows.durations import check_grace
from strom.windows.results import Late, WindowResult

EMIT_MODES = ("final", "updates")
"""``"final"``: one result per window when it closes. ``"updates"``: a result on every change."""

_STORE_METHODS = {
    "window": ("fetch", "fetch_all", "expire", "expired_before"),
    "session": ("find_sessions", "fetch_all", "expire", "expired_before"),
    "key-value": ("get", "put", "range"),
}


class WindowedAggregation:
    """Aggregates one task's records into windows, over a state store partition.

    Args:
        window: the window definition (:func:`~strom.windows.tumbling`, ...).
        aggregation: what to compute (:mod:`strom.windows.aggregations`).
        store: the store partition, opened as :func:`~strom.windows.store_spec` says (a
            window store for tumbling, hopping and sliding windows, a session store for
            sessions, a key-value store for count windows) and already restored.
        emit: ``"final"`` or ``"updates"``.
        grace: how long after its end a window still accepts records (ms or timedelta);
            must be 0 for count windows.

    Attributes:
        window, aggregation, emit, grace: as given (grace in ms).

    Raises:
        ConfigError: a bad argument: unknown emit mode, negative grace, the wrong store kind,
            an aggregation without ``merge`` for session windows, grace on count windows.
    """

    def __init__(
        self,
        window: Tumbling | Hopping | Sliding | Session | Count,
        aggregation: Aggregation[Any, Any],
        store: Any,
        *,
        emit: str = "final",
        grace: int | timedelta = 0,
    ) -> None:
        if emit not in EMIT_MODES:
            raise ConfigError(f"emit must be one of {', '.join(EMIT_MODES)}, got {emit!r}")
        if not isinstance(aggregation, Aggregation):
            raise ConfigError(
                f"aggregation must be a strom.windows.aggregations.Aggregation, got {aggregation!r}"
            )
        grace_ms = check_grace(grace)
        self.window = window
        self.aggregation = aggregation
        self.emit = emit
        self.grace = grace_ms
        core: TimeCore | CountCore
        if isinstance(window, Tumbling | Hopping):
            _check_store(store, "window", window)
            core = FixedCore(window, aggregation, store, emit, grace_ms)
        elif isinstance(window, Sliding):
            _check_store(store, "window", window)
            core = SlidingCore(window, aggregation, store, emit, grace_ms)
        elif isinstance(window, Session):
            _check_store(store, "session", window)
            core = SessionCore(window, aggregation, store, emit, grace_ms)
        elif isinstance(window, Count):
            if grace_ms:
                raise ConfigError(
                    f"count windows have no time: grace does not apply (got {grace_ms} ms)"
                )
            _check_store(store, "key-value", window)
            core = CountCore(window, aggregation, store, emit)
        else:
            raise ConfigError(
                f"window must be a strom.windows definition (tumbling, hopping, sliding, "
                f"session, count), got {window!r}"
            )
        self._core = core
        self._loaded = False

    def _load(self) -> None:
        # First use: rebuild the core's view of the store (restored by now), then call the
        # core directly: the per-record path has no extra layer. (A reference to the method
        # taken before the first call still works: it goes through the class's method.)
        if self._loaded:
            return
        self._core.load()
        self._loaded = True
        self.__dict__["process"] = self._core.process
        self.__dict__["advance"] = self._core.advance

    def process(
        self, key: Any, value: Any, timestamp: int, watermark: int
    ) -> list[WindowResult] | Late:
        """Aggregate one record.

        Args:
            key: the record key (not None: it keys the store).
            value: the record value, given to the aggregation's ``add``.
            timestamp: the record's event time (epoch ms).
            watermark: the task's watermark before this record (:data:`NO_WATERMARK` before
                any record). A smaller value than one seen before counts as that one.

        Returns:
            :data:`~strom.windows.LATE` if the record was late (not aggregated); else the
            results of the windows it changed, by start (emit ``"updates"``; count windows
            also emit the window a record completes in ``"final"``), else ``[]``.
        """
        self._load()
        return self._core.process(key, value, timestamp, watermark)

    def advance(self, watermark: int) -> list[WindowResult]:
        """Close the windows whose end + grace the watermark has reached.

        Returns:
            Their final results ordered by (end, key bytes, start) (emit ``"final"``); ``[]``
            with emit ``"updates"``. The windows are gone from the store either way.
        """
        self._load()
        return self._core.advance(watermark)

    @property
    def late_records(self) -> int:
        """Records found late (not aggregated) by this instance."""
        return self._core.late_records

    @property
    def watermark(self) -> int:
        """The largest watermark seen, or the one the restored store implies."""
        self._load()
        return self._core.watermark

    @property
    def next_close(self) -> int | None:
        """The watermark at which ``advance`` will next close a window (None: no open window)."""
        self._load()
        return self._core.next_close


def _check_store(store: Any, kind: str, window: object) -> None:
    missing = [name for name in _STORE_METHODS[kind] if not hasattr(store, name)]
    if missing:
        raise ConfigError(
            f"{window!r} needs a {kind} store (see strom.windows.store_spec), got "
            f"{type(store).__name__} without {', '.join(missing)}"
        )
