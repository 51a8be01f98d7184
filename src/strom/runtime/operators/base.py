"""The contract between the runtime and a stateful operator.

Example:
    >>> from strom.serde import string, integer
    >>> StoreSpec("counts", "key-value", string(), integer()).changelog_config
    {'cleanup.policy': 'compact'}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, Protocol

from strom.serde.base import Serde
from strom.state.protocols import StateStore
from strom.state.types import StoreKind


class Late(NamedTuple):
    """What :meth:`Operator.process` returns for a record it did not take: it is late (every
    window it belongs to has closed). The runtime counts it and drops it or routes it, and
    emits ``outputs`` (what the record's watermark closed before it was found late)."""

    outputs: tuple[Any, ...] = ()


LATE: Final = Late()
"""A late record that closed nothing."""


class Emit(NamedTuple):
    """A record an operator passes downstream: its key, value and event time (epoch ms)."""

    key: Any
    value: Any
    timestamp: int


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """One store an operator needs (one partition of it per task).

    Attributes:
        name: the store's name (from the step's name: stable across restarts); its changelog
            topic is ``{app}-{name}-changelog``.
        kind: ``"key-value"``, ``"window"`` or ``"session"``.
        key: serde of the store's keys.
        value: serde of its values.
        segment_interval: segment length in ms (window and session stores).
        retention_ms: how long windows are kept after their end (window and session stores);
            the changelog keeps records a day longer.
    """

    name: str
    kind: StoreKind
    key: Serde[Any]
    value: Serde[Any]
    segment_interval: int = 60_000
    retention_ms: int | None = None

    @property
    def changelog_config(self) -> dict[str, str]:
        """Configs of the changelog topic: compacted; windowed stores also expire."""
        if self.kind == "key-value" or self.retention_ms is None:
            return {"cleanup.policy": "compact"}
        day = 24 * 3600 * 1000
        return {"cleanup.policy": "compact,delete", "retention.ms": str(self.retention_ms + day)}


class Operator(Protocol):
    """One task's instance of a stateful step."""

    deadline: int | None
    """The watermark from which :meth:`advance` has something to do (None: nothing waits)."""

    def process(
        self, key: Any, value: Any, timestamp: int, watermark: int
    ) -> Sequence[Emit] | Late:
        """Take one record (``watermark``: the task's watermark before it); return what to
        emit now, or a :class:`Late`. Steps with two inputs (joins) take the records of the
        second one in ``process_right``, with the same contract."""
        ...

    def advance(self, watermark: int) -> Sequence[Emit]:
        """The watermark moved to ``watermark``: close what it closes; return what to emit."""
        ...

    def reset(self) -> None:
        """The stores dropped their uncommitted writes (a rewind): forget in-memory state
        derived from them."""
        ...

    def restored_watermark(self) -> int | None:
        """After a restore: the lowest watermark the stores' contents imply (what had been
        closed must stay closed), or None."""
        ...


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What else an operator may use when it is built.

    Attributes:
        operators: the operators already built in the task, by graph node (a join finds the
            table it looks up here).
        global_tables: the process's global tables, by topic name.
    """

    operators: Mapping[Any, Operator]
    global_tables: Mapping[str, Any]


class OperatorSpec(Protocol):
    """How a stateful step builds its per-task operator (held by the graph node)."""

    def stores(self, step: str) -> Sequence[StoreSpec]:
        """The stores a task of ``step`` needs."""
        ...

    def build(self, stores: Mapping[str, StateStore], context: BuildContext) -> Operator:
        """The operator of one task over its open (and restored) stores, by name."""
        ...
