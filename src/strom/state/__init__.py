"""State stores: key-value, window and session stores, in memory or in RocksDB.

A store partition buffers writes in memory, hands the runtime its changelog records at the
checkpoint (``prepare``/``flush``), applies them to storage in one batch (``commit``), and is
rebuilt from its changelog (``restore``) — in full, or from a local RocksDB copy's checkpoint.
See :mod:`strom.state.protocols` for the lifecycle and ``docs/state.md`` for the design.

Example:
    >>> from strom.serde import string, integer
    >>> from strom.state import open_key_value_store
    >>> counts = open_key_value_store("counts", 0, string(), integer())
    >>> counts.put("de", (counts.get("de") or 0) + 1)
    >>> counts.flush()                       # changelog records for the runtime to send
    [(b'de', b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01')]
    >>> replica = open_key_value_store("counts", 0, string(), integer())
    >>> replica.restore([(b'de', b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01')])
    1
    >>> replica.get("de")
    1
"""

from strom.state.factory import (
    BACKENDS,
    DEFAULT_SEGMENT_INTERVAL,
    open_key_value_store,
    open_session_store,
    open_window_store,
    store_path,
)
from strom.state.protocols import KeyValueStore, SessionStore, StateStore, WindowStore
from strom.state.types import Change, Recovery, StoreKind, StoreMetrics

__all__ = [
    "BACKENDS",
    "DEFAULT_SEGMENT_INTERVAL",
    "Change",
    "KeyValueStore",
    "Recovery",
    "SessionStore",
    "StateStore",
    "StoreKind",
    "StoreMetrics",
    "WindowStore",
    "open_key_value_store",
    "open_session_store",
    "open_window_store",
    "store_path",
]
