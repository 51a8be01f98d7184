"""Committed offsets of a consumer group, stored durably.

``groups/<group>/offsets.json`` holds, per topic, the topic id and the next offset to read
of each partition. A commit takes the group's offsets lock, merges, writes a temporary file,
fsyncs it, renames it over the old one and fsyncs the directory (per the fsync policy), so a
crash leaves either the old offsets or the new ones. Readers need no lock.

Offsets of a topic that was deleted (its id changed or it is gone) are not returned. The ids
of the last transactions whose offsets were applied are kept, so that re-applying a
transaction during recovery never moves offsets back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from strom.errors import StorageError
from strom.log.local.durability import Durability, atomic_write
from strom.log.local.groups import next_version, read_versioned
from strom.log.local.locks import FileLock
from strom.log.types import TopicPartition

APPLIED_TXN_MEMORY = 256


class OffsetStore:
    """The committed offsets of one group."""

    def __init__(self, directory: Path, group: str, durability: Durability) -> None:
        self.dir = directory
        self.group = group
        self.durability = durability
        self.path = directory / "offsets.json"
        self._lock: FileLock | None = None
        self._cache: tuple[str, dict[str, object]] | None = None

    def _read(self) -> dict[str, object]:
        """The file's content, parsed again only when the version its writer bumped changed
        (not on file times or inode numbers: a quick rewrite can repeat those)."""
        found = read_versioned(self.path)
        if found is None:
            return {"group": self.group, "topics": {}, "txns": []}
        version, raw = found
        if self._cache is not None and version and self._cache[0] == version:
            return self._cache[1]
        try:
            data: dict[str, object] = json.loads(raw)
        except ValueError as exc:
            raise StorageError(
                f"committed offsets of group {self.group!r} in {self.path} are unreadable: {exc}"
            ) from exc
        self._cache = (version, data) if version else None
        return data

    def read(self, topic_ids: Mapping[str, str]) -> dict[TopicPartition, int]:
        """Committed offsets of the topics in ``topic_ids`` whose id still matches."""
        data = self._read()
        out: dict[TopicPartition, int] = {}
        topics = data.get("topics", {})
        assert isinstance(topics, dict)
        for topic, entry in topics.items():
            if topic_ids.get(topic) != entry.get("id"):
                continue
            for partition, offset in entry.get("offsets", {}).items():
                out[TopicPartition(topic, int(partition))] = int(offset)
        return out

    def topics(self) -> list[str]:
        """Topics with committed offsets (ids not checked)."""
        topics = self._read().get("topics", {})
        assert isinstance(topics, dict)
        return sorted(topics)

    def commit(
        self,
        offsets: Mapping[TopicPartition, int],
        topic_ids: Mapping[str, str],
        *,
        txn: str | None = None,
    ) -> bool:
        """Store ``offsets`` durably; False when ``txn`` was already applied (no change)."""
        if self._lock is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(self.dir / "offsets.lock")
        with self._lock:
            self._cache = None
            data = self._read()
            txns = list(data.get("txns", []))  # type: ignore[call-overload]
            if txn is not None and txn in txns:
                return False
            topics = dict(data.get("topics", {}))  # type: ignore[call-overload]
            for tp, offset in offsets.items():
                topic_id = topic_ids[tp.topic]
                entry = topics.get(tp.topic)
                if entry is None or entry.get("id") != topic_id:
                    entry = {"id": topic_id, "offsets": {}}
                else:
                    entry = {"id": topic_id, "offsets": dict(entry["offsets"])}
                entry["offsets"][str(tp.partition)] = int(offset)
                topics[tp.topic] = entry
            if txn is not None:
                txns = [*txns, txn][-APPLIED_TXN_MEMORY:]
            version = next_version(str(data.get("version", "")))
            body = {"version": version, "group": self.group, "topics": topics, "txns": txns}
            atomic_write(self.path, json.dumps(body).encode(), sync=self.durability.sync_metadata)
            return True

    def close(self) -> None:
        """Release the lock file."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None
