"""Topic and group administration of the embedded log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from strom.errors import ConfigError, TopicExistsError
from strom.log.local.groups import list_group_dirs
from strom.log.types import (
    OFFSET_END,
    PartitionLag,
    TopicDescription,
    TopicPartition,
    TopicSpec,
)

if TYPE_CHECKING:
    from strom.log.local.log import LocalLog


class LocalAdmin:
    """Admin client of the embedded log. Made by ``LocalLog.admin``."""

    def __init__(self, owner: LocalLog) -> None:
        self._log = owner

    def create_topics(self, specs: Sequence[TopicSpec], *, timeout: float = 30.0) -> None:
        """Create topics (all specs are validated first); TopicExistsError, ConfigError."""
        store = self._log.topics
        for spec in specs:
            store.validate(spec)
            if store.exists(spec.name):
                raise TopicExistsError(f"topic {spec.name!r} already exists")
        for spec in specs:
            store.create(spec)

    def delete_topics(self, names: Sequence[str], *, timeout: float = 30.0) -> None:
        """Delete topics and their data; TopicNotFoundError for unknown names."""
        for name in names:
            self._log.topics.get(name)
        for name in names:
            self._log.drop_partitions(name)
            self._log.topics.delete(name)

    def list_topics(self, *, timeout: float = 30.0) -> list[str]:
        """User topic names, sorted."""
        return self._log.topics.names()

    def describe_topic(self, name: str, *, timeout: float = 30.0) -> TopicDescription:
        """Partition count and every config (defaults included)."""
        return self._log.topics.get(name).describe()

    def list_groups(self, *, timeout: float = 30.0) -> list[str]:
        """Consumer groups with members or committed offsets, sorted."""
        return sorted(list_group_dirs(self._log.groups_dir))

    def group_offsets(self, group: str, *, timeout: float = 30.0) -> dict[TopicPartition, int]:
        """Committed offsets of ``group`` on existing topics."""
        store = self._log.offsets(group)
        return store.read(self._log.topics.ids(store.topics()))

    def end_offsets(
        self, partitions: Sequence[TopicPartition], *, timeout: float = 30.0
    ) -> dict[TopicPartition, int]:
        """High watermark per partition."""
        return {
            TopicPartition(*tp): self._log.partition(tp[0], tp[1]).state().next_offset
            for tp in partitions
        }

    def group_lag(self, group: str, *, timeout: float = 30.0) -> list[PartitionLag]:
        """Committed offset, end offset and lag of each partition ``group`` committed on."""
        committed = self.group_offsets(group)
        out = []
        for tp in sorted(committed):
            end = self._log.partition(tp.topic, tp.partition).state().next_offset
            offset = committed[tp]
            out.append(PartitionLag(tp.topic, tp.partition, offset, end, max(end - offset, 0)))
        return out

    def delete_records(
        self, offsets: Mapping[TopicPartition, int], *, timeout: float = 30.0
    ) -> None:
        """Move each partition's low watermark up to its offset (``OFFSET_END``: the high
        watermark), deleting the segments wholly below it; reads below it then behave as
        reads below retention. All partitions and offsets are checked first.

        Raises:
            TopicNotFoundError: a topic or partition does not exist.
            ConfigError: an offset is negative (other than OFFSET_END) or past the end.
        """
        checked = []
        for tp, offset in offsets.items():
            tp = TopicPartition(*tp)
            partition = self._log.partition(tp.topic, tp.partition)
            end = partition.state().next_offset
            target = end if offset == OFFSET_END else int(offset)
            if target < 0 or target > end:
                raise ConfigError(
                    f"delete_records: offset {offset} for {tp.topic!r} partition {tp.partition} "
                    f"is invalid: use 0..{end} (the high watermark) or OFFSET_END"
                )
            checked.append((partition, target))
        for partition, target in checked:
            partition.delete_records(target)

    def close(self) -> None:
        """Nothing to release (the log owns the files)."""
