"""Parsed-file caches never serve a stale state, even when a rewrite repeats the inode
number and the modification time (a freed inode reused within one timestamp tick)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from strom.log import TopicPartition
from strom.log.local.durability import Durability
from strom.log.local.groups import GroupMember, GroupState
from strom.log.local.offsets import OffsetStore

TP = TopicPartition("t", 0)


def rewrite_until_same_inode(path: Path, rewrite: Callable[[int], None]) -> None:
    """Rewrite ``path`` with ``rewrite`` (by rename, as the log does), then make the result
    look to a reader exactly as if the file system had given the new file the freed inode
    number of the old one within the same clock tick (ext4 reuses freed inodes at once, and
    its timestamps are coarse): the new content, under the old inode number and mtime."""
    first = os.stat(path)
    keep = path.with_name(path.name + ".old-inode")
    os.link(path, keep)  # the old inode stays allocated ...
    rewrite(0)
    content = path.read_bytes()
    with open(keep, "r+b") as f:  # ... and takes the new content
        f.write(content)
        f.truncate()
    os.replace(keep, path)
    os.utime(path, ns=(first.st_atime_ns, first.st_mtime_ns))
    assert os.stat(path).st_ino == first.st_ino


def test_offsets_cache_is_keyed_on_the_writers_version(tmp_path: Path) -> None:
    durability = Durability()
    reader = OffsetStore(tmp_path, "g", durability)
    writer = OffsetStore(tmp_path, "g", durability)
    ids = {"t": "id"}
    writer.commit({TP: 1}, ids)
    assert reader.read(ids) == {TP: 1}  # cached now

    rewrite_until_same_inode(reader.path, lambda n: writer.commit({TP: 100 + n}, ids))
    assert reader.read(ids) == writer.read(ids) != {TP: 1}
    reader.close()
    writer.close()


def test_group_state_cache_is_keyed_on_the_writers_version(tmp_path: Path) -> None:
    def member() -> GroupMember:
        return GroupMember(
            tmp_path,
            "g",
            resolve=lambda topics: {"t": 1},
            session_timeout_ms=10_000,
            max_poll_interval_ms=10_000,
            assignment_strategy="range",
        )

    reader, writer = member(), member()
    writer.join(["t"])
    assert reader.read_state().generation == 1  # cached now

    def rejoin(_: int) -> None:
        writer.join(["t"])  # a new generation each time

    rewrite_until_same_inode(tmp_path / "state.json", rejoin)
    fresh = GroupState.from_json((tmp_path / "state.json").read_bytes())
    assert fresh.generation > 1
    assert reader.read_state().generation == fresh.generation
    writer.close()
    reader.close()
