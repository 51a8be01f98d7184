"""Per-partition task state: what the runner knows about one assigned input partition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strom.log.types import TopicPartition
from strom.runtime.compile import CompiledSource
from strom.runtime.functions.base import Fn
from strom.serde.base import Serde

if TYPE_CHECKING:
    from strom.runtime.state_task import StateTask


class Task:
    """One assigned input partition: its compiled chain and its progress.

    Offsets follow Kafka's convention (the next offset to read). ``base`` is where the last
    checkpoint left the partition (or the first offset seen since it was assigned); records
    from ``base`` up to ``next_offset`` are processed but not yet committed. -1 means unknown.

    Attributes:
        tp: the partition.
        chain: the compiled steps its records enter.
        deserialize_value: decodes its record values.
        key_serde: decodes its record keys.
        next_offset: offset after the last processed record (-1: none processed yet).
        base: offset of the last checkpoint (-1: none seen yet).
        state: the stateful task the partition feeds (None: stateless).
    """

    __slots__ = ("base", "chain", "deserialize_value", "key_serde", "next_offset", "state", "tp")

    def __init__(
        self, tp: TopicPartition, source: CompiledSource, state: StateTask | None = None
    ) -> None:
        self.tp = tp
        self.state = state
        self.chain: Fn = source.chain
        self.deserialize_value = source.value_serde.deserialize
        self.key_serde: Serde[Any] = source.key_serde
        self.next_offset = -1
        self.base = -1

    @property
    def pending(self) -> bool:
        """True when records were processed since the last checkpoint."""
        return self.next_offset > self.base >= 0 or (self.base < 0 <= self.next_offset)

    def __repr__(self) -> str:
        return (
            f"<Task {self.tp.topic}[{self.tp.partition}] base={self.base} next={self.next_offset}>"
        )
