"""Consumer groups across processes: membership, liveness, eager rebalancing.

Layout of ``groups/<group>/`` (the name is escaped for the file system)::

    group.json        the group id
    state.json        generation, members and their subscriptions, the target assignment,
                      and which member currently owns which partitions
    state.lock        flock taken to change state.json (atomic rename: reads need no lock)
    members/<id>      one file per member, flock-ed by it for its whole life; its mtime is
                      its heartbeat
    offsets.json      committed offsets (see offsets.py)

Liveness: a member is dead when no one holds the lock on its file (the kernel releases it
when the process dies, even by SIGKILL: detected at once) or when its heartbeat is older than
``session.timeout.ms`` (a hung process). A background thread of each member touches its file;
it stops when ``poll()`` has not been called for ``max.poll.interval.ms``. Any member that
notices a dead one removes it.

Rebalancing follows Kafka's classic (eager) protocol. Every change of membership (join,
``close()``, death) or of the subscribed topics' partitions bumps the generation and stores a
new target assignment (``range`` or ``roundrobin``, computed by the member that made the
change). On seeing a new generation, each member, inside ``poll()``: calls ``on_revoke`` with
all its partitions and releases them; then, once no other live member owns any partition of
its new target, takes them all and calls ``on_assign``, resuming from committed offsets. So a
partition is never read by two members at once, and a member can commit in ``on_revoke``
before another one resumes from that commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from strom.errors import GroupFencedError, StorageError
from strom.log.local.assignors import strategy
from strom.log.local.durability import atomic_write, storage_error
from strom.log.local.locks import FileLock, is_locked_by_other
from strom.log.types import TopicPartition


def group_dir_name(group: str) -> str:
    """A file-system-safe directory name for a group id (reversible when short)."""
    name = quote(group, safe="-_").replace(".", "%2E")
    if len(name) > 180:
        name = name[:120] + "~" + hashlib.sha256(group.encode()).hexdigest()[:32]
    return name


def group_from_dir_name(name: str) -> str:
    """Inverse of :func:`group_dir_name` (for names that were not shortened)."""
    return unquote(name)


@dataclass(slots=True)
class GroupState:
    """Contents of state.json."""

    generation: int = 0
    members: dict[str, list[str]] = field(default_factory=dict)
    assignment: dict[str, list[TopicPartition]] = field(default_factory=dict)
    owned: dict[str, list[TopicPartition]] = field(default_factory=dict)
    partition_counts: dict[str, int] = field(default_factory=dict)
    owned_generation: dict[str, int] = field(default_factory=dict)
    """The generation in which each member took the partitions it owns: its commits must
    carry it (Kafka's fencing by generation)."""
    version: str = ""
    """Bumped by every write (``<file instance>:<count>``): what readers' caches are keyed on.
    """

    def to_json(self) -> bytes:
        """Serialized form (the version first: readers find it without parsing the rest)."""
        return json.dumps(
            {
                "version": self.version,
                "generation": self.generation,
                "members": self.members,
                "assignment": {m: [list(tp) for tp in tps] for m, tps in self.assignment.items()},
                "owned": {m: [list(tp) for tp in tps] for m, tps in self.owned.items()},
                "partition_counts": self.partition_counts,
                "owned_generation": self.owned_generation,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> GroupState:
        """Parse; an empty or damaged file (machine crash) gives an empty group."""
        try:
            data: dict[str, Any] = json.loads(raw)
            return cls(
                generation=int(data["generation"]),
                members={m: list(t) for m, t in data["members"].items()},
                assignment={
                    m: [TopicPartition(t, int(p)) for t, p in tps]
                    for m, tps in data["assignment"].items()
                },
                owned={
                    m: [TopicPartition(t, int(p)) for t, p in tps]
                    for m, tps in data["owned"].items()
                },
                partition_counts={t: int(n) for t, n in data["partition_counts"].items()},
                owned_generation={m: int(g) for m, g in data.get("owned_generation", {}).items()},
                version=str(data.get("version", "")),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls()


@dataclass(frozen=True, slots=True)
class GroupView:
    """What a member sees of its group."""

    member: bool
    """False when this member was removed (session timeout): it must rejoin."""
    generation: int
    target: frozenset[TopicPartition]


class GroupMember:
    """One consumer's membership in a group (used by the consumer, inside ``poll()``)."""

    def __init__(
        self,
        directory: Path,
        group: str,
        *,
        resolve: Callable[[Sequence[str]], dict[str, int]],
        session_timeout_ms: int,
        max_poll_interval_ms: int,
        assignment_strategy: str,
    ) -> None:
        self.dir = directory
        self.group = group
        self.resolve = resolve
        self.session_timeout = session_timeout_ms / 1000
        self.max_poll_interval = max_poll_interval_ms / 1000
        self.assign_fn = strategy(assignment_strategy)
        self.member_id: str | None = None
        self.subscription: list[str] = []
        self.last_poll = time.monotonic()
        self._members_dir = directory / "members"
        self._lock: FileLock | None = None
        self._member_fd = -1
        self._cache: tuple[str, GroupState] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- state file --------------------------------------------------------------------------

    def _ensure_dirs(self) -> FileLock:
        if self._lock is None:
            try:
                self._members_dir.mkdir(parents=True, exist_ok=True)
                marker = self.dir / "group.json"
                if not marker.exists():
                    atomic_write(marker, json.dumps({"group": self.group}).encode(), sync=False)
            except OSError as exc:
                raise storage_error("create group directory", self.dir, exc) from exc
            self._lock = FileLock(self.dir / "state.lock")
        return self._lock

    def read_state(self) -> GroupState:
        """The current state (parsed again only when its version changed)."""
        self._cache, state = read_group_state(self.dir, self._cache)
        return state

    def _write_state(self, state: GroupState) -> None:
        # Group state is coordination, not data: after a machine crash no member survives.
        self._cache = None  # callers changed the cached object: never serve it again
        state.version = next_version(state.version)
        atomic_write(self.dir / "state.json", state.to_json(), sync=False)
        self._cache = None

    def _rebalance(self, state: GroupState) -> None:
        subscriptions = {m: self.resolve(topics) for m, topics in state.members.items()}
        counts: dict[str, int] = {}
        for resolved in subscriptions.values():
            counts.update(resolved)
        state.assignment = self.assign_fn({m: sorted(r) for m, r in subscriptions.items()}, counts)
        state.partition_counts = counts
        state.owned = {m: tps for m, tps in state.owned.items() if m in state.members}
        state.owned_generation = {
            m: g for m, g in state.owned_generation.items() if m in state.members
        }
        state.generation += 1

    # --- liveness ----------------------------------------------------------------------------

    def _alive(self, member: str, now: float) -> bool:
        path = self._members_dir / member
        if not is_locked_by_other(path):
            return False
        try:
            return now - os.stat(path).st_mtime <= self.session_timeout
        except FileNotFoundError:
            return False

    def _heartbeat_loop(self, path: Path) -> None:
        period = max(min(self.session_timeout / 5, 1.0), 0.02)
        while not self._stop.wait(period):
            if time.monotonic() - self.last_poll > self.max_poll_interval:
                continue  # the application stopped polling: let the session expire
            try:
                os.utime(path)
            except OSError:
                return

    # --- membership --------------------------------------------------------------------------

    def join(self, subscription: Sequence[str]) -> None:
        """Become a member (or change the subscription of this member)."""
        lock = self._ensure_dirs()
        self.subscription = list(subscription)
        if self.member_id is None:
            member_id = f"member-{uuid.uuid4().hex[:16]}"
            path = self._members_dir / member_id
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise storage_error("create group member file", path, exc) from exc
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            self._member_fd = fd
            self.member_id = member_id
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._heartbeat_loop, args=(path,), name=f"strom-hb-{member_id}", daemon=True
            )
            self._thread.start()
        with lock:
            state = self.read_state()
            now = time.time()
            for other in [m for m in state.members if m != self.member_id]:
                if not self._alive(other, now):
                    self._forget(state, other)
            state.members[self.member_id] = list(subscription)
            self._rebalance(state)
            self._write_state(state)

    def _forget(self, state: GroupState, member: str) -> None:
        state.members.pop(member, None)
        state.owned.pop(member, None)
        state.owned_generation.pop(member, None)
        state.assignment.pop(member, None)
        with contextlib.suppress(FileNotFoundError):
            (self._members_dir / member).unlink()

    def view(self, *, check_metadata: bool) -> GroupView:
        """Refresh: remove dead members, follow partition changes; what this member sees."""
        state = self.read_state()
        me = self.member_id
        if me is None or me not in state.members:
            return GroupView(False, state.generation, frozenset())
        now = time.time()
        dead = [m for m in state.members if m != me and not self._alive(m, now)]
        changed = False
        if check_metadata:
            counts: dict[str, int] = {}
            for topics in state.members.values():
                counts.update(self.resolve(topics))
            changed = counts != state.partition_counts
        if dead or changed:
            with self._ensure_dirs():
                state = self.read_state()
                if me not in state.members:
                    return GroupView(False, state.generation, frozenset())
                for member in [m for m in state.members if m != me and not self._alive(m, now)]:
                    self._forget(state, member)
                self._rebalance(state)
                self._write_state(state)
                state = self.read_state()
        return GroupView(True, state.generation, frozenset(state.assignment.get(me, [])))

    def release(self) -> None:
        """Give up every owned partition (after on_revoke)."""
        self._set_owned([], None)

    def try_take(self, target: frozenset[TopicPartition], generation: int) -> bool:
        """Own ``target`` if no other member still owns part of it and the generation holds."""
        return self._set_owned(sorted(target), generation)

    def _set_owned(self, partitions: list[TopicPartition], generation: int | None) -> bool:
        me = self.member_id
        if me is None:
            return False
        with self._ensure_dirs():
            state = self.read_state()
            if me not in state.members:
                return False
            if generation is not None:
                if state.generation != generation:
                    return False
                wanted = set(partitions)
                for other, owned in state.owned.items():
                    if other != me and wanted.intersection(owned):
                        return False
            state.owned[me] = partitions
            if generation is None:
                state.owned_generation.pop(me, None)
            else:
                state.owned_generation[me] = generation
            self._write_state(state)
            return True

    def is_member(self) -> bool:
        """True while this member is in the group (it was not removed as dead)."""
        return self.member_id is not None and self.member_id in self.read_state().members

    def leave(self) -> None:
        """Leave the group (a rebalance gives its partitions to the others)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        me = self.member_id
        if me is None:
            return
        try:
            with self._ensure_dirs():
                state = self.read_state()
                if me in state.members:
                    self._forget(state, me)
                    self._rebalance(state)
                    self._write_state(state)
                else:
                    (self._members_dir / me).unlink(missing_ok=True)
        except StorageError:
            pass
        finally:
            if self._member_fd >= 0:
                os.close(self._member_fd)
                self._member_fd = -1
            self.member_id = None

    def close(self) -> None:
        """Leave and release files."""
        self.leave()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


_VERSION = re.compile(rb'^\{"version": "([^"]*)"')


def next_version(version: str) -> str:
    """The version after ``version``: same file instance, count + 1 (a new instance when
    there is none, so a re-created file never repeats an old version)."""
    instance, _, count = version.rpartition(":")
    if not instance:
        return f"{uuid.uuid4().hex}:1"
    return f"{instance}:{int(count) + 1}"


def read_versioned(path: Path) -> tuple[str, bytes] | None:
    """(version, raw content) of a JSON file whose writers put a ``version`` first; None
    when the file does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise storage_error("read", path, exc) from exc
    match = _VERSION.match(raw)
    return (match.group(1).decode() if match and match.group(1) else ""), raw


def read_group_state(
    directory: Path, cache: tuple[str, GroupState] | None
) -> tuple[tuple[str, GroupState] | None, GroupState]:
    """The group state in ``directory`` and the cache to keep: parsed again only when the
    version its writer bumped differs from the cached one (never on file times or inode
    numbers, which a quick rewrite can repeat)."""
    found = read_versioned(directory / "state.json")
    if found is None:
        return cache, GroupState()
    version, raw = found
    if cache is not None and version and cache[0] == version:
        return cache, cache[1]
    state = GroupState.from_json(raw)
    return ((version, state) if version else None), state


def check_fence(
    state: GroupState,
    group: str,
    member_id: str,
    generation: int,
    partitions: Sequence[TopicPartition],
) -> None:
    """Raise GroupFencedError unless ``member_id`` is in the group and still owns
    ``partitions`` since ``generation`` (call it holding the group's state lock, and write
    what it guards before releasing the lock)."""
    if member_id not in state.members:
        raise GroupFencedError(
            f"member {member_id} is no longer in group {group!r} (no heartbeat within "
            "session.timeout.ms, or it left): its partitions were reassigned, so nothing was "
            "committed; poll() to rejoin, then process again from the committed offsets"
        )
    owned_since = state.owned_generation.get(member_id)
    if owned_since != generation:
        raise GroupFencedError(
            f"member {member_id} of group {group!r} committed with generation {generation}, "
            f"but holds its partitions since generation {owned_since} (the group is at "
            f"{state.generation}): a rebalance handed them over, so nothing was committed; "
            "poll() to take the new assignment, then process again from the committed offsets"
        )
    owned = set(state.owned.get(member_id, ()))
    foreign = sorted(tp for tp in partitions if tp not in owned)
    if foreign:
        names = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in foreign)
        raise GroupFencedError(
            f"member {member_id} of group {group!r} does not own {names} (generation "
            f"{generation}): nothing was committed"
        )


def state_lock(directory: Path) -> FileLock:
    """The lock that guards a group's state.json (and fenced commits)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error("create group directory", directory, exc) from exc
    return FileLock(directory / "state.lock")


def list_group_dirs(root: Path) -> Mapping[str, Path]:
    """Group id -> directory, for every group with state or offsets under ``root``."""
    out: dict[str, Path] = {}
    try:
        entries = os.listdir(root)
    except FileNotFoundError:
        return out
    for entry in entries:
        path = root / entry
        try:
            group = json.loads((path / "group.json").read_bytes())["group"]
        except (OSError, ValueError, KeyError, TypeError):
            group = group_from_dir_name(entry)
        if (path / "offsets.json").exists() or (path / "state.json").exists():
            out[group] = path
    return out
