"""Windowed stream-stream join (inner, left, outer), Kafka Streams' ``JoinWindows`` join.

Two keyed, co-partitioned streams; a left record at ``t`` joins every right record of the same
key with a timestamp in ``[t - before, t + after]`` (:func:`~strom.joins.within`,
:func:`~strom.joins.join_window`), whichever arrives first. Each pair is emitted once, as soon
as its second record arrives: value ``joiner(left, right)``, timestamp the larger of the two.

- ``inner``: pairs only.
- ``left``: also each left record that joined nothing, as ``joiner(left, None)`` at its own
  timestamp, once its window has closed (watermark > ``t + after + grace``), never earlier
  and never when a match came in time (KIP-633's behaviour: no spurious results).
- ``outer``: also each such right record, as ``joiner(None, right)`` (window closes at
  ``t + before + grace``).

Records behind the watermark by more than ``grace`` are late: not joined, flagged in the
:class:`~strom.joins.JoinResult` for the runtime to count and drop. See
:mod:`strom.joins.buffered` for the stores and time rules.

Example:
    >>> from strom.serde import string
    >>> from strom.joins import WindowedJoin, open_join_stores, within
    >>> window = within(10)                                     # 10 ms each way
    >>> left, right = open_join_stores("clicks", 0, string(), string(), string(), window)
    >>> join = WindowedJoin(left, right, lambda imp, click: (imp, click), window=window,
    ...                     how="left")
    >>> join.process_left("ad-1", "imp-a", 100, watermark=100)
    JoinResult(outputs=[], late=False)
    >>> join.process_right("ad-1", "click-a", 105, watermark=105).outputs
    [Output(key='ad-1', value=('imp-a', 'click-a'), timestamp=105)]
    >>> _ = join.process_left("ad-2", "imp-b", 106, watermark=106)
    >>> join.advance(117)                      # imp-b's window [96, 116] closed unmatched
    [Output(key='ad-2', value=('imp-b', None), timestamp=106)]
    >>> join.process_right("ad-1", "click-b", 90, watermark=117).late
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from strom.errors import ConfigError
from strom.joins.buffered import BufferedJoin
from strom.joins.codec import Buffered
from strom.joins.definitions import JoinWindows
from strom.state.protocols import WindowStore

K = TypeVar("K")
VL = TypeVar("VL")
VR = TypeVar("VR")
R = TypeVar("R")


class WindowedJoin(BufferedJoin[K, R], Generic[K, VL, VR, R]):
    """Windowed join of two streams (see module doc).

    Args:
        left_store: the left side's window store (``buffer_serde`` of the left value serde).
        right_store: the right side's window store.
        joiner: ``(left_value, right_value) -> output value`` (None for the missing side).
        window: the :class:`~strom.joins.JoinWindows` (required).
        how: ``"inner"``, ``"left"`` or ``"outer"``.
        expire_every: ms of watermark progress between store expiries (garbage collection);
            default: the definition's ``segment_interval``.
    """

    _kind = "windowed join"
    _hows = ("inner", "left", "outer")

    def __init__(
        self,
        left_store: WindowStore[K, Buffered[VL]],
        right_store: WindowStore[K, Buffered[VR]],
        joiner: Callable[[VL | None, VR | None], R],
        *,
        window: JoinWindows | None,
        how: str = "inner",
        expire_every: int | None = None,
    ) -> None:
        if window is None:
            raise ConfigError(
                "windowed join: a window is required, e.g. "
                "window=strom.joins.within(timedelta(seconds=10)); to join a stream with a "
                "table, join it with the table instead"
            )
        if not isinstance(window, JoinWindows):
            raise ConfigError(
                f"windowed join: window must be strom.joins.within(...) or join_window(...), "
                f"got {window!r}"
            )
        super().__init__(left_store, right_store, joiner, window, how, expire_every)
