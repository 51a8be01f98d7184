"""Stores for the join cores under test, on either backend, with their changelogs.

Built on the store contract's :class:`~tests.contract.store_support.Harness`: ``flush``
appends to a changelog list, ``reopen`` closes and restores from the reported checkpoint
(RocksDB: the local copy, memory: everything), ``replica`` restores the whole changelog into
a fresh store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from strom.joins import buffer_serde, stamped_serde
from strom.serde import integer, json, string
from tests.contract.store_support import Harness

BACKENDS = ["memory", "rocksdb"]
KEY_SERDE = string()


def table_harness(backend: str, state_dir: Path, name: str) -> Harness:
    """A table store (string keys, JSON values with timestamps)."""
    return Harness(
        backend,
        state_dir,
        "key-value",
        key_serde=KEY_SERDE,
        value_serde=stamped_serde(json()),
        name=name,
    )


def join_harnesses(backend: str, state_dir: Path, name: str, segment: int) -> list[Harness]:
    """The left and right window stores of a windowed join (string keys, int values)."""
    return [
        Harness(
            backend,
            state_dir,
            "window",
            key_serde=KEY_SERDE,
            value_serde=buffer_serde(integer()),
            name=f"{name}-{side}",
            segment_interval=segment,
        )
        for side in ("left", "right")
    ]


def flush_all(harnesses: list[Harness]) -> None:
    for harness in harnesses:
        harness.flush()


def replicas(harnesses: list[Harness], backend: str, state_dir: Path) -> list[Any]:
    """Fresh stores of the same backend (a new directory) restored from whole changelogs."""
    out = []
    for harness in harnesses:
        fresh = Harness(
            backend,
            state_dir,
            harness.kind,
            key_serde=harness.key_serde,
            value_serde=harness.value_serde,
            name=harness.name,
            **harness.options,
        )
        fresh.store.restore(harness.changelog)
        fresh.changelog = list(harness.changelog)
        out.append(fresh)
    return out
