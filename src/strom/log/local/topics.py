"""Topic metadata of the embedded log: create, delete, list, describe.

Layout under the log directory::

    topics/<name>/topic.json      name, partition count, configs, a unique id, creation time
    topics/<name>/<partition>/    one directory per partition (see partition.py)

A topic is created in a temporary directory that is renamed into place, so it appears whole
or not at all, and two processes creating the same topic at once get one topic and one
TopicExistsError. Deleting renames the directory into ``trash/`` (atomic; readers that hold
its files open keep reading them) and then removes it. The id tells a re-created topic from
the one that was deleted, for committed offsets and cached handles.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from strom.errors import ConfigError, StorageError, TopicExistsError, TopicNotFoundError
from strom.log.local.config import TopicConfig, validate_topic_name
from strom.log.local.durability import Durability, atomic_write, fsync_dir, storage_error
from strom.log.types import TopicDescription, TopicSpec

INTERNAL_PREFIX = "__"


@dataclass(frozen=True, slots=True)
class TopicMeta:
    """What topic.json holds, parsed."""

    name: str
    partitions: int
    config: TopicConfig
    id: str
    created_ms: int

    def describe(self) -> TopicDescription:
        """As the Admin API returns it (every config, defaults included)."""
        return TopicDescription(self.name, self.partitions, dict(self.config.raw))


class TopicStore:
    """The topics of one log directory (any number of processes may share it)."""

    def __init__(self, root: Path, durability: Durability) -> None:
        self.dir = root / "topics"
        self.trash = root / "trash"
        self.durability = durability
        self._cache: dict[str, tuple[tuple[int, int], TopicMeta]] = {}
        for path in (self.dir, self.trash):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise storage_error("create directory", path, exc) from exc

    def validate(self, spec: TopicSpec) -> TopicConfig:
        """Check a spec; ConfigError naming what is wrong."""
        validate_topic_name(spec.name)
        if not isinstance(spec.partitions, int) or spec.partitions < 1:
            raise ConfigError(
                f"topic {spec.name!r}: partitions={spec.partitions!r} must be an integer >= 1"
            )
        if spec.replication_factor not in (1, -1):
            raise ConfigError(
                f"topic {spec.name!r}: replication_factor={spec.replication_factor} is not "
                "possible on the embedded log (one machine): use 1"
            )
        return TopicConfig.parse(spec.config, topic=spec.name)

    def create(self, spec: TopicSpec) -> TopicMeta:
        """Create a topic; TopicExistsError if it exists, ConfigError if the spec is bad."""
        config = self.validate(spec)
        final = self.dir / spec.name
        if final.exists():
            raise TopicExistsError(f"topic {spec.name!r} already exists")
        meta = TopicMeta(spec.name, spec.partitions, config, uuid.uuid4().hex, _now_ms())
        tmp = self.dir / f".creating-{spec.name}-{uuid.uuid4().hex[:8]}"
        sync = self.durability.sync_metadata
        try:
            tmp.mkdir()
            for number in range(spec.partitions):
                (tmp / str(number)).mkdir()
            body = {
                "name": meta.name,
                "partitions": meta.partitions,
                "config": {k: v for k, v in spec.config.items()},
                "id": meta.id,
                "created_ms": meta.created_ms,
            }
            atomic_write(tmp / "topic.json", json.dumps(body, indent=1).encode(), sync=sync)
            if sync:
                fsync_dir(tmp)
            try:
                os.rename(tmp, final)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    raise TopicExistsError(f"topic {spec.name!r} already exists") from None
                raise
            if sync:
                fsync_dir(self.dir)
        except OSError as exc:
            raise storage_error(f"create topic {spec.name!r}", final, exc) from exc
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return meta

    def delete(self, name: str) -> None:
        """Delete a topic and its data; TopicNotFoundError if there is none."""
        self._cache.pop(name, None)
        source = self.dir / name
        if not (source / "topic.json").exists():
            raise TopicNotFoundError(f"topic {name!r} does not exist")
        target = self.trash / f"{name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(source, target)
        except FileNotFoundError:
            raise TopicNotFoundError(f"topic {name!r} does not exist") from None
        except OSError as exc:
            raise storage_error(f"delete topic {name!r}", source, exc) from exc
        if self.durability.sync_metadata:
            fsync_dir(self.dir)
        shutil.rmtree(target, ignore_errors=True)

    def names(self, *, internal: bool = False) -> list[str]:
        """Topic names, sorted (internal ``__`` topics only when asked)."""
        out = []
        for entry in os.listdir(self.dir):
            if entry.startswith("."):
                continue
            if not internal and entry.startswith(INTERNAL_PREFIX):
                continue
            if (self.dir / entry / "topic.json").exists():
                out.append(entry)
        return sorted(out)

    def get(self, name: str) -> TopicMeta:
        """The metadata of ``name`` (cached until topic.json changes)."""
        path = self.dir / name / "topic.json"
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            self._cache.pop(name, None)
            raise TopicNotFoundError(f"topic {name!r} does not exist") from None
        except OSError as exc:
            raise storage_error("read topic metadata", path, exc) from exc
        stamp = (st.st_ino, st.st_mtime_ns)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            raw = json.loads(path.read_bytes())
            meta = TopicMeta(
                name=raw["name"],
                partitions=int(raw["partitions"]),
                config=TopicConfig.parse(raw.get("config", {}), topic=name),
                id=str(raw["id"]),
                created_ms=int(raw.get("created_ms", 0)),
            )
        except FileNotFoundError:
            raise TopicNotFoundError(f"topic {name!r} does not exist") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"topic metadata {path} is unreadable: {exc}") from exc
        self._cache[name] = (stamp, meta)
        return meta

    def exists(self, name: str) -> bool:
        """True when the topic exists."""
        try:
            self.get(name)
        except TopicNotFoundError:
            return False
        return True

    def partition_dir(self, name: str, number: int) -> Path:
        """Directory of one partition."""
        return self.dir / name / str(number)

    def ids(self, names: Sequence[str]) -> dict[str, str]:
        """Ids of the existing topics among ``names``."""
        out = {}
        for name in names:
            try:
                out[name] = self.get(name).id
            except TopicNotFoundError:
                continue
        return out


def _now_ms() -> int:
    return int(time.time() * 1000)
