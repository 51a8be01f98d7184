"""Open the stores the cores run on, with the value layouts they expect.

The runtime may open them itself (``strom.state.open_*_store`` with
:func:`~strom.joins.codec.stamped_serde` / :func:`~strom.joins.codec.buffer_serde`); these
helpers fix the names and options: a table store is ``<name>``, a windowed join's stores are
``<name>-left`` and ``<name>-right``, with the segment interval its definition suggests.
Store options (``backend``, ``state_dir``, ``app``) pass through.

Retention of a join's changelogs: a record stays buffered until the watermark passes
``t + after + grace`` (left side) or ``t + before + grace`` (right side), then the store
expires it (one control record per expiry); give the changelog topics
``cleanup.policy=compact,delete`` and a ``retention.ms`` above that (as for window stores).

Example:
    >>> from strom.serde import string, json
    >>> from strom.joins import open_join_stores, open_table_store, within
    >>> open_table_store("users", 0, string(), json()).name
    'users'
    >>> left, right = open_join_stores("clicks", 0, string(), json(), json(), within(10_000))
    >>> left.name, right.name
    ('clicks-left', 'clicks-right')
"""

from __future__ import annotations

from typing import Any, TypeVar

from strom.joins.codec import Buffered, Stamped, buffer_serde, stamped_serde
from strom.joins.definitions import Interval, JoinWindows
from strom.serde.base import Serde
from strom.state import open_key_value_store, open_window_store
from strom.state.protocols import KeyValueStore, WindowStore

K = TypeVar("K")
V = TypeVar("V")
VL = TypeVar("VL")
VR = TypeVar("VR")


def open_table_store(
    name: str, partition: int, key_serde: Serde[K], value_serde: Serde[V], **options: Any
) -> KeyValueStore[K, Stamped[V]]:
    """Open a table's store partition (for :class:`~strom.joins.TableCore`)."""
    return open_key_value_store(name, partition, key_serde, stamped_serde(value_serde), **options)


def open_join_stores(
    name: str,
    partition: int,
    key_serde: Serde[K],
    left_serde: Serde[VL],
    right_serde: Serde[VR],
    definition: JoinWindows | Interval,
    **options: Any,
) -> tuple[WindowStore[K, Buffered[VL]], WindowStore[K, Buffered[VR]]]:
    """Open both window stores of a windowed or interval join's partition."""
    interval = definition.segment_interval
    left = open_window_store(
        f"{name}-left",
        partition,
        key_serde,
        buffer_serde(left_serde),
        segment_interval=interval,
        **options,
    )
    right = open_window_store(
        f"{name}-right",
        partition,
        key_serde,
        buffer_serde(right_serde),
        segment_interval=interval,
        **options,
    )
    return left, right
