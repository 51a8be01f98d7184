"""Interval join (inner, left): Flink's ``intervalJoin(...).between(lower, upper)``.

A left record at ``t`` joins every right record of the same key with a timestamp in
``[t + lower, t + upper]`` (:func:`~strom.joins.interval`; bounds of any sign, so the window
may lie wholly after or before the left record). It is the windowed join's core with
``before = -lower`` and ``after = upper``: pairs emitted as soon as both records are there
(timestamp: the larger of the two), a left join's unmatched left record emitted as
``joiner(left, None)`` when its interval has closed (watermark > ``t + upper + grace``),
late records flagged. There is no outer interval join (use a windowed join).

Example:
    >>> from datetime import timedelta
    >>> from strom.serde import string
    >>> from strom.joins import IntervalJoin, interval, open_join_stores
    >>> bounds = interval(timedelta(seconds=1), timedelta(seconds=5))  # 1-5 s after the order
    >>> orders, payments = open_join_stores("paid", 0, string(), string(), string(), bounds)
    >>> join = IntervalJoin(orders, payments, lambda o, p: (o, p), bounds=bounds, how="left")
    >>> _ = join.process_left("o1", "order", 1_000, watermark=1_000)
    >>> join.process_right("o1", "too-early", 1_500, watermark=1_500).outputs
    []
    >>> join.process_right("o1", "payment", 3_000, watermark=3_000).outputs
    [Output(key='o1', value=('order', 'payment'), timestamp=3000)]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from strom.errors import ConfigError
from strom.joins.buffered import BufferedJoin
from strom.joins.codec import Buffered
from strom.joins.definitions import Interval
from strom.state.protocols import WindowStore

K = TypeVar("K")
VL = TypeVar("VL")
VR = TypeVar("VR")
R = TypeVar("R")


class IntervalJoin(BufferedJoin[K, R], Generic[K, VL, VR, R]):
    """Interval join of two streams (see module doc).

    Args:
        left_store: the left side's window store (``buffer_serde`` of the left value serde).
        right_store: the right side's window store.
        joiner: ``(left_value, right_value) -> output value`` (right None: left join).
        bounds: the :class:`~strom.joins.Interval` (required).
        how: ``"inner"`` or ``"left"``.
        expire_every: ms of watermark progress between store expiries (garbage collection);
            default: the definition's ``segment_interval``.
    """

    _kind = "interval join"
    _hows = ("inner", "left")

    def __init__(
        self,
        left_store: WindowStore[K, Buffered[VL]],
        right_store: WindowStore[K, Buffered[VR]],
        joiner: Callable[[VL, VR | None], R],
        *,
        bounds: Interval | None,
        how: str = "inner",
        expire_every: int | None = None,
    ) -> None:
        if bounds is None:
            raise ConfigError(
                "interval join: bounds are required, e.g. "
                "bounds=strom.joins.interval(timedelta(0), timedelta(minutes=5))"
            )
        if not isinstance(bounds, Interval):
            raise ConfigError(
                f"interval join: bounds must be strom.joins.interval(lower, upper), got {bounds!r}"
            )
        super().__init__(left_store, right_store, joiner, bounds, how, expire_every)
