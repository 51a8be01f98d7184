"""Helpers for the store contract suite: open any kind of store on any backend, and a
changelog that stands in for the changelog topic (a list: offset = index).

``Harness.reopen`` does what the runtime does when a task comes back: close the store, open it
again, and restore the changelog from the checkpoint the store reports (everything when it
needs a full restore). Everything goes through the public API of :mod:`strom.state`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from strom.serde import bytes_, integer, string
from strom.serde.base import Serde
from strom.state import (
    Change,
    StateStore,
    open_key_value_store,
    open_session_store,
    open_window_store,
)

BACKENDS = ["memory", "rocksdb"]
KINDS = ["key-value", "window", "session"]


def opener(kind: str) -> Callable[..., Any]:
    """The ``open_*_store`` function of a store kind."""
    return {
        "key-value": open_key_value_store,
        "window": open_window_store,
        "session": open_session_store,
    }[kind]


class Harness:
    """One store partition under test, with its changelog and its reopen cycle."""

    def __init__(
        self,
        backend: str,
        state_dir: Path,
        kind: str = "key-value",
        *,
        key_serde: Serde[Any] | None = None,
        value_serde: Serde[Any] | None = None,
        name: str = "s",
        partition: int = 0,
        **options: Any,
    ) -> None:
        self.backend = backend
        self.state_dir = state_dir
        self.kind = kind
        self.key_serde = key_serde or string()
        self.value_serde = value_serde or integer()
        self.name = name
        self.partition = partition
        self.options = options
        self.changelog: list[Change] = []
        self.restored_from: int | None = None
        self.store: Any = self._open()

    def _open(self) -> Any:
        extra: dict[str, Any] = dict(self.options)
        if self.backend == "rocksdb":
            extra.update(state_dir=self.state_dir, app="app")
        return opener(self.kind)(
            self.name, self.partition, self.key_serde, self.value_serde,
            backend=self.backend, **extra,
        )  # fmt: skip

    def flush(self) -> list[Change]:
        """Flush the store, append its changes to the changelog, checkpoint the end."""
        changes: list[Change] = self.store.flush()
        self.changelog.extend(changes)
        self.store.write_checkpoint(len(self.changelog))
        return changes

    def reopen(self) -> Any:
        """Close, open again, restore from the reported checkpoint; return the new store."""
        self.store.close()
        self.store = self._open()
        recovery = self.store.recovery
        start = 0 if recovery.needs_full_restore else recovery.checkpoint_offset
        self.restored_from = start
        self.store.restore(self.changelog[start:])
        return self.store

    def fresh_replica(self) -> Any:
        """A new store (memory) restored from the whole changelog."""
        replica = opener(self.kind)(
            "replica", self.partition, self.key_serde, self.value_serde, backend="memory",
            **self.options,
        )  # fmt: skip
        replica.restore(self.changelog)
        return replica

    def close(self) -> None:
        self.store.close()


def kv_state(store: StateStore) -> list[tuple[Any, Any]]:
    """All entries of a key-value store, in order."""
    return list(store.items())  # type: ignore[attr-defined]


RAW = bytes_()
"""Raw bytes keys: the serialized form is the key itself (for ordering and escaping tests)."""
