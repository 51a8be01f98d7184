"""When to snapshot an aggregate: every N events, or a policy function of your own.

A policy is called by :meth:`Repository.save` with the aggregate (after its new events) and
the number of events being saved; when it returns True, the snapshot is written in the same
transaction as the events.

Example:
    >>> policy = every(100)
    >>> class Agg:
    ...     version = 0
    >>> agg = Agg()
    >>> agg.version = 99; policy(agg, 3)      # 96 -> 99: no multiple of 100 crossed
    False
    >>> agg.version = 101; policy(agg, 3)     # 98 -> 101 crosses 100
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strom.errors import ConfigError

SnapshotPolicy = Callable[[Any, int], bool]
"""``policy(aggregate, new_events) -> bool``: snapshot after this save?"""


def every(n: int) -> SnapshotPolicy:
    """Snapshot whenever a save crosses a multiple of ``n`` events."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"every(n): n must be an int >= 1, got {n!r}")

    def policy(aggregate: Any, new_events: int) -> bool:
        version = int(aggregate.version)
        return version // n > (version - new_events) // n

    policy.__qualname__ = f"every({n})"
    return policy
