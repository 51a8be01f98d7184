"""Windowed streams: ``stream.window(...)`` then an aggregation.

Example:
    >>> import strom
    >>> from datetime import timedelta
    >>> app = strom.App("docs-windowed")
    >>> logins = app.stream(app.topic("events")).filter(lambda e: e["action"] == "login")
    >>> per_5m = logins.window(strom.windows.tumbling(timedelta(minutes=5)),
    ...                        timestamp=lambda e: e["timestamp"],
    ...                        grace=timedelta(seconds=30)).count(name="logins-per-5m")
    >>> per_5m.name
    'logins-per-5m'
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from strom.dsl import graph as g
from strom.dsl.topic import Topic
from strom.error_policies import ErrorPolicy
from strom.errors import ConfigError
from strom.serde.base import Serde

if TYPE_CHECKING:
    from strom.dsl.stream import Stream
    from strom.windows.aggregations import Aggregation


class WindowedStream:
    """A stream whose records are grouped by key and window; end it with an aggregation.

    Every aggregation returns a :class:`~strom.dsl.Stream` of results: the key, and a value
    ``{"key": key, "start": ms, "end": ms, "value": result}``, timestamped inside the window
    (``end - 1`` for tumbling and hopping windows). With ``emit="final"`` (default) a
    window's result is emitted once, when the watermark passes ``end + grace``; with
    ``emit="updates"``, on every change. Name the step: its store and changelog topic derive
    their names from it.
    """

    __slots__ = ("_grace", "_lag", "_late", "_retention", "_stream", "_timestamp", "_window")

    def __init__(
        self,
        stream: Stream,
        window: Any,
        timestamp: Callable[[Any], int] | None,
        grace: int,
        late: Topic | None,
        lag: int,
        retention: int | None,
    ) -> None:
        self._stream = stream
        self._window = window
        self._timestamp = timestamp
        self._grace = grace
        self._late = late
        self._lag = lag
        self._retention = retention

    def aggregate(
        self,
        init: Callable[[], Any],
        add: Callable[[Any, Any], Any],
        *,
        merge: Callable[[Any, Any], Any] | None = None,
        result: Callable[[Any], Any] | None = None,
        value: Serde[Any] | None = None,
        name: str | None = None,
        emit: str = "final",
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """A custom aggregation: ``init() -> acc``, ``add(acc, value) -> acc``, ``merge(a, b)``
        (needed by session windows), ``result(acc)`` (what is emitted; default the
        accumulator), ``value`` the accumulator's serde (default msgpack)."""
        from strom.windows import aggregations as agg

        return self._step(
            "aggregate",
            agg.aggregate(init, add, merge, result, serde=value),
            name,
            emit,
            on_error,
        )

    def count(
        self, *, name: str | None = None, emit: str = "final", on_error: ErrorPolicy | None = None
    ) -> Stream:
        """The number of records per key and window."""
        from strom.windows import aggregations as agg

        return self._step("count", agg.count(), name, emit, on_error)

    def sum(
        self,
        fn: Callable[[Any], Any] | None = None,
        *,
        name: str | None = None,
        emit: str = "final",
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """The sum of ``fn(value)`` (default: the values) per key and window."""
        from strom.windows import aggregations as agg

        return self._step("sum", agg.sum(fn), name, emit, on_error)

    def min(
        self,
        fn: Callable[[Any], Any] | None = None,
        *,
        name: str | None = None,
        emit: str = "final",
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """The smallest ``fn(value)`` per key and window."""
        from strom.windows import aggregations as agg

        return self._step("min", agg.min(fn), name, emit, on_error)

    def max(
        self,
        fn: Callable[[Any], Any] | None = None,
        *,
        name: str | None = None,
        emit: str = "final",
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """The largest ``fn(value)`` per key and window."""
        from strom.windows import aggregations as agg

        return self._step("max", agg.max(fn), name, emit, on_error)

    def mean(
        self,
        fn: Callable[[Any], Any] | None = None,
        *,
        name: str | None = None,
        emit: str = "final",
        on_error: ErrorPolicy | None = None,
    ) -> Stream:
        """The mean of ``fn(value)`` per key and window."""
        from strom.windows import aggregations as agg

        return self._step("mean", agg.mean(fn), name, emit, on_error)

    def first(
        self, *, name: str | None = None, emit: str = "final", on_error: ErrorPolicy | None = None
    ) -> Stream:
        """The first value (in arrival order) per key and window."""
        from strom.windows import aggregations as agg

        return self._step("first", agg.first(), name, emit, on_error)

    def last(
        self, *, name: str | None = None, emit: str = "final", on_error: ErrorPolicy | None = None
    ) -> Stream:
        """The last value (in arrival order) per key and window."""
        from strom.windows import aggregations as agg

        return self._step("last", agg.last(), name, emit, on_error)

    def collect(
        self, *, name: str | None = None, emit: str = "final", on_error: ErrorPolicy | None = None
    ) -> Stream:
        """Every value per key and window, in arrival order."""
        from strom.windows import aggregations as agg

        return self._step("collect", agg.collect(), name, emit, on_error)

    def _step(
        self,
        kind: str,
        aggregation: Aggregation[Any, Any],
        name: str | None,
        emit: str,
        on_error: ErrorPolicy | None,
    ) -> Stream:
        from strom.dsl.stream import key_serde
        from strom.runtime.operators.windowed import WindowedSpec
        from strom.windows import EMIT_MODES, check_retention

        if emit not in EMIT_MODES:
            raise ConfigError(f"{kind}(): emit must be one of {EMIT_MODES}, got {emit!r}")
        if self._retention is not None:
            check_retention(self._window, grace=self._grace, retention=self._retention)
        stream = self._stream
        step = stream._claim(name, f"window-{kind}", on_error)
        spec = WindowedSpec(self._window, aggregation, emit, self._grace, key_serde(stream.node))
        # Fails now, not at start: a definition no store can hold.
        spec.stores(step)
        node = g.Stateful(
            step,
            (stream.node,),
            spec,
            timestamp=self._timestamp,
            late=self._late,
            lag_ms=self._lag,
        )
        return stream._then(node)


def millis(value: int | timedelta, what: str) -> int:
    """``value`` (ms or timedelta) as int ms >= 0 (exactly: no float rounding)."""
    from strom.windows import to_millis

    ms = to_millis(value, what)
    if ms < 0:
        raise ConfigError(f"{what} must not be negative, got {value!r}")
    return ms
