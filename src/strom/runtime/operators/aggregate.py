"""Rolling per-key aggregation over a key-value store: every record updates its key's
accumulator and emits the new result (a changelog stream, the basis of a table).

Example:
    >>> from strom.serde import string, json
    >>> from strom.state import open_key_value_store
    >>> spec = AggregateSpec(init=lambda: 0, add=lambda acc, v: acc + v, key=string(),
    ...                      value=json())
    >>> op = spec.build({"totals": open_key_value_store("totals", 0, string(), json())})
    >>> op.process("de", 3, 1000, 0), op.process("de", 4, 1001, 1000)
    ([Emit(key='de', value=3, timestamp=1000)], [Emit(key='de', value=7, timestamp=1001)])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from strom.errors import StromError
from strom.runtime.operators.base import BuildContext, Emit, StoreSpec
from strom.serde.base import Serde
from strom.state.protocols import KeyValueStore, StateStore


@dataclass(frozen=True, slots=True)
class AggregateSpec:
    """A rolling aggregation: ``acc = add(acc or init(), value)`` per key; emits
    ``result(acc)`` (the accumulator itself by default) on every record.

    Attributes:
        init: the accumulator of a key never seen.
        add: folds one value into the accumulator.
        key: serde of the keys in the store.
        value: serde of the accumulators in the store.
        result: what is emitted for an accumulator (None: the accumulator).
        store: the store's name (default: the step's name).
    """

    init: Callable[[], Any]
    add: Callable[[Any, Any], Any]
    key: Serde[Any]
    value: Serde[Any]
    result: Callable[[Any], Any] | None = None
    store: str | None = None

    def stores(self, step: str) -> Sequence[StoreSpec]:
        """One key-value store named after the step."""
        return [StoreSpec(self.store or step, "key-value", self.key, self.value)]

    def present(self, acc: Any) -> Any:
        """What a query shows for an accumulator: its result."""
        return acc if self.result is None else self.result(acc)

    def build(
        self, stores: Mapping[str, StateStore], context: BuildContext | None = None
    ) -> RollingAggregate:
        """The operator of one task."""
        name = self.store or next(iter(stores), "")
        if self.store is not None and self.store not in stores:
            raise StromError(f"aggregation needs its store {self.store!r}; got {', '.join(stores)}")
        store = stores[name]
        return RollingAggregate(self, store)  # type: ignore[arg-type]


class RollingAggregate:
    """One task's rolling aggregation (see :class:`AggregateSpec`)."""

    deadline: int | None = None

    def __init__(self, spec: AggregateSpec, store: KeyValueStore[Any, Any]) -> None:
        self._init = spec.init
        self._add = spec.add
        self._result = spec.result
        self._get = store.get
        self._put = store.put

    def process(self, key: Any, value: Any, timestamp: int, watermark: int) -> list[Emit]:
        """Fold ``value`` into its key's accumulator; emit the new result."""
        acc = self._get(key)
        acc = self._add(self._init() if acc is None else acc, value)
        self._put(key, acc)
        result = self._result
        return [Emit(key, acc if result is None else result(acc), timestamp)]

    def advance(self, watermark: int) -> list[Emit]:
        """Nothing closes: a rolling aggregate has no windows."""
        return []

    def reset(self) -> None:
        """No in-memory state besides the store."""

    def restored_watermark(self) -> int | None:
        """No time-based state."""
        return None
