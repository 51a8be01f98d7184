"""Open a store partition by backend name: ``"memory"`` or ``"rocksdb"``.

A RocksDB store partition lives in ``<state_dir>/<app>/<store>/<partition>/`` (see
:mod:`strom.state.rocksdb.local`). Its changelog topic defaults to ``<app>-<store>-changelog``
(Kafka Streams' name) and is part of the local copy's identity, like the store kind and, for
window and session stores, the segment interval: a copy made with other values is wiped.

Example:
    >>> import tempfile
    >>> from strom.serde import string, json
    >>> from strom.state import open_key_value_store
    >>> with tempfile.TemporaryDirectory() as state_dir:
    ...     store = open_key_value_store("profiles", 3, string(), json(), backend="rocksdb",
    ...                                  state_dir=state_dir, app="shop")
    ...     store.recovery.needs_full_restore
    ...     _ = store.restore([(b"u1", b'{"tier":"pro"}')])
    ...     store.put("u2", {"tier": "free"})
    ...     changes = store.flush()            # the runtime sends these to the changelog
    ...     store.write_checkpoint(42)         # ... and records the next changelog offset
    ...     store.close()
    ...     again = open_key_value_store("profiles", 3, string(), json(), backend="rocksdb",
    ...                                  state_dir=state_dir, app="shop")
    ...     again.recovery.checkpoint_offset, again.get("u1"), again.get("u2")
    ...     again.close()
    True
    (42, {'tier': 'pro'}, {'tier': 'free'})
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

from strom.errors import ConfigError
from strom.serde.base import Serde
from strom.state.codec import FORMAT_VERSION, LAYOUT_VERSION
from strom.state.engine import Engine
from strom.state.kv import BufferedKeyValueStore
from strom.state.memory import MemoryEngine
from strom.state.protocols import KeyValueStore, SessionStore, WindowStore
from strom.state.session import SegmentedSessionStore
from strom.state.types import StoreKind
from strom.state.window import SegmentedWindowStore

K = TypeVar("K")
V = TypeVar("V")

BACKENDS = ("memory", "rocksdb")
"""The backend names :func:`open_key_value_store` and friends accept."""

DEFAULT_SEGMENT_INTERVAL = 60_000
"""Default segment length (ms) of window and session stores; pick about half the retention
(window size + grace), like Kafka Streams, so that a query touches two or three segments."""

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def _check(kind: StoreKind, name: str, partition: int, backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(
            f"{kind} store {name!r}: unknown backend {backend!r}; use one of {', '.join(BACKENDS)}"
        )
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        raise ConfigError(
            f"store name {name!r} is invalid: use 1-200 letters, digits, '.', '_' or '-' "
            "(it names a directory and a changelog topic)"
        )
    if type(partition) is not int or partition < 0:
        raise ConfigError(f"store {name!r}: partition must be an int >= 0, got {partition!r}")


def store_path(state_dir: str | Path, app: str, name: str, partition: int) -> Path:
    """The directory of one RocksDB store partition."""
    return Path(state_dir) / app / name / str(partition)


def _engine(
    kind: StoreKind,
    name: str,
    partition: int,
    backend: str,
    state_dir: str | Path | None,
    app: str | None,
    changelog_topic: str | None,
    layout: dict[str, Any],
) -> Engine:
    _check(kind, name, partition, backend)
    if backend == "memory":
        return MemoryEngine()
    if state_dir is None or app is None:
        raise ConfigError(f"rocksdb store {name!r}: state_dir and app are required")
    if not _NAME.match(app) or app in (".", ".."):
        raise ConfigError(f"rocksdb store {name!r}: app name {app!r} cannot name a directory")
    from strom.state.rocksdb import RocksDBEngine  # rocksdict loads only when it is used

    identity = {
        "app": app,
        "store": name,
        "partition": partition,
        "kind": kind,
        "changelog_topic": changelog_topic or f"{app}-{name}-changelog",
        "layout": layout,
    }
    where = f"store {name!r} partition {partition} (rocksdb)"
    return RocksDBEngine(store_path(state_dir, app, name, partition), identity, where)


def open_key_value_store(
    name: str,
    partition: int,
    key_serde: Serde[K],
    value_serde: Serde[V],
    *,
    backend: str = "memory",
    state_dir: str | Path | None = None,
    app: str | None = None,
    changelog_topic: str | None = None,
) -> KeyValueStore[K, V]:
    """Open one partition of a key-value store.

    Args:
        name: the store's name (a directory and changelog topic name part).
        partition: the store partition (its task's input partition).
        key_serde: serializes keys; their bytes define the store's order.
        value_serde: serializes values.
        backend: ``"memory"`` or ``"rocksdb"``.
        state_dir: the state directory (rocksdb).
        app: the application's name (rocksdb).
        changelog_topic: recorded in the local copy's identity; default
            ``<app>-<name>-changelog``.

    Raises:
        ConfigError: an unknown backend, an invalid name, rocksdb without state_dir/app.
        StateError: the local copy cannot be created or is locked by another process.
    """
    engine = _engine(
        "key-value",
        name,
        partition,
        backend,
        state_dir,
        app,
        changelog_topic,
        {"version": LAYOUT_VERSION},
    )
    return BufferedKeyValueStore(engine, key_serde, value_serde, name=name, partition=partition)


def open_window_store(
    name: str,
    partition: int,
    key_serde: Serde[K],
    value_serde: Serde[V],
    *,
    segment_interval: int = DEFAULT_SEGMENT_INTERVAL,
    backend: str = "memory",
    state_dir: str | Path | None = None,
    app: str | None = None,
    changelog_topic: str | None = None,
) -> WindowStore[K, V]:
    """Open one partition of a window store (arguments as :func:`open_key_value_store`).

    Args:
        segment_interval: length of a storage segment in ms (see
            :data:`DEFAULT_SEGMENT_INTERVAL`); part of the local copy's identity.
    """
    engine = _engine(
        "window",
        name,
        partition,
        backend,
        state_dir,
        app,
        changelog_topic,
        _segmented_layout(segment_interval),
    )
    return SegmentedWindowStore(
        engine,
        key_serde,
        value_serde,
        name=name,
        partition=partition,
        segment_interval=segment_interval,
    )


def open_session_store(
    name: str,
    partition: int,
    key_serde: Serde[K],
    value_serde: Serde[V],
    *,
    segment_interval: int = DEFAULT_SEGMENT_INTERVAL,
    backend: str = "memory",
    state_dir: str | Path | None = None,
    app: str | None = None,
    changelog_topic: str | None = None,
) -> SessionStore[K, V]:
    """Open one partition of a session store (arguments as :func:`open_window_store`)."""
    engine = _engine(
        "session",
        name,
        partition,
        backend,
        state_dir,
        app,
        changelog_topic,
        _segmented_layout(segment_interval),
    )
    return SegmentedSessionStore(
        engine,
        key_serde,
        value_serde,
        name=name,
        partition=partition,
        segment_interval=segment_interval,
    )


def _segmented_layout(segment_interval: int) -> dict[str, Any]:
    if type(segment_interval) is not int or segment_interval <= 0:
        raise ConfigError(f"segment_interval must be a positive int (ms), got {segment_interval!r}")
    return {
        "version": LAYOUT_VERSION,
        "changelog_format": FORMAT_VERSION,
        "segment_interval": segment_interval,
    }
