"""Windowed aggregations as a stateful step: :class:`strom.windows.WindowedAggregation` over
the task's store partition, its results emitted downstream as values
``{"key", "start", "end", "value"}`` (a tombstone, when a merged session's earlier results no
longer stand, as None) with the window's timestamp.

Example:
    >>> from strom import windows
    >>> from strom.serde import string
    >>> from strom.state import open_window_store
    >>> spec = WindowedSpec(windows.tumbling(60_000), windows.aggregations.count(), "final",
    ...                     0, string())
    >>> (store_spec,) = spec.stores("per-minute")
    >>> store = open_window_store("per-minute", 0, string(), store_spec.value,
    ...                           segment_interval=store_spec.segment_interval)
    >>> op = spec.build({"per-minute": store})
    >>> op.process("u1", {}, 1_000, -1), op.advance(60_000)
    ([], [Emit(key='u1', value={'key': 'u1', 'start': 0, 'end': 60000, 'value': 1}, timestamp=59999)])
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from strom.runtime.operators.base import LATE, BuildContext, Emit, Late, StoreSpec
from strom.serde.base import Serde
from strom.state.protocols import StateStore
from strom.windows import LATE as WINDOW_LATE
from strom.windows import NO_WATERMARK, Count, Sliding, WindowedAggregation, store_spec
from strom.windows.aggregations import Aggregation


@dataclass(frozen=True, slots=True)
class WindowedSpec:
    """A windowed aggregation step: the window, what to compute, emit mode, grace (ms) and
    the serde of the keys it groups by."""

    window: Any
    aggregation: Aggregation[Any, Any]
    emit: str
    grace_ms: int
    key: Serde[Any]

    def stores(self, step: str) -> Sequence[StoreSpec]:
        """The one store the window kind needs (see :func:`strom.windows.store_spec`)."""
        spec = store_spec(self.window, self.aggregation, grace=self.grace_ms)
        return [
            StoreSpec(
                step,
                spec.kind,
                self.key,
                spec.value_serde,
                segment_interval=spec.segment_interval or 60_000,
                retention_ms=spec.retention,
            )
        ]

    def present(self, stored: Any) -> Any:
        """What a query shows for a stored window: the aggregation's result."""
        acc = stored[1] if isinstance(self.window, Sliding | Count) else stored
        result = self.aggregation.result
        return acc if result is None or acc is None else result(acc)

    def build(
        self, stores: Mapping[str, StateStore], context: BuildContext | None = None
    ) -> WindowedOperator:
        """The operator of one task over its (restored) store."""
        (store,) = stores.values()
        return WindowedOperator(self, store)


class WindowedOperator:
    """One task's windowed aggregation (see :class:`WindowedSpec`)."""

    def __init__(self, spec: WindowedSpec, store: StateStore) -> None:
        self._spec = spec
        self._store = store
        self._op = self._new()

    def _new(self) -> WindowedAggregation:
        spec = self._spec
        return WindowedAggregation(
            spec.window, spec.aggregation, self._store, emit=spec.emit, grace=spec.grace_ms
        )

    @property
    def deadline(self) -> int | None:
        """The watermark at which a window closes next."""
        return self._op.next_close

    def process(self, key: Any, value: Any, timestamp: int, watermark: int) -> list[Emit] | Late:
        """Aggregate one record; the results of the windows it changed (emit "updates")."""
        out = self._op.process(key, value, timestamp, watermark)
        if out is WINDOW_LATE:
            return LATE
        return [_emit(r) for r in out] if out else []  # type: ignore[union-attr]

    def advance(self, watermark: int) -> list[Emit]:
        """Close the windows the watermark passed; their final results (emit "final")."""
        out = self._op.advance(watermark)
        return [_emit(r) for r in out] if out else []

    def reset(self) -> None:
        """The store dropped its uncommitted writes: rebuild the view of it."""
        self._op = self._new()

    def restored_watermark(self) -> int | None:
        """The watermark the restored store implies (closed windows stay closed)."""
        mark = self._op.watermark
        return None if mark == NO_WATERMARK else mark


def _emit(result: Any) -> Emit:
    if result.tombstone:
        return Emit(result.key, None, result.timestamp)
    value = {"key": result.key, "start": result.start, "end": result.end, "value": result.value}
    return Emit(result.key, value, result.timestamp)
