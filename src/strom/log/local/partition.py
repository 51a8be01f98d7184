"""A partition of the embedded log: append, roll, retention, and where to read.

A partition is a directory of append-only segment files (``<base offset>.log``) with their
sparse indexes (``.index``), a memory-mapped :mod:`head <strom.log.local.head>` and a
``lock`` file. Appends from any process are serialized by ``flock`` on the lock file; offsets
are assigned under the lock from the head, so producers in several processes interleave
whole batches with continuous offsets. A torn tail left by a writer that died is cut off by
the next writer before it appends (the head says where the complete data ends).

The active segment rolls when it would grow past ``segment.bytes`` or is older than
``segment.ms``; a rolled segment is fsync-ed and never written again, only deleted by
retention (``retention.ms`` on its largest timestamp, ``retention.bytes`` on the partition's
size) or replaced by compaction. Maintenance runs after a roll (on the log's maintenance
thread) and on :meth:`Partition.maintain`.

Only writers (appends, retention, compaction, ``delete_records``) repair files, under the
lock (:meth:`Partition.locked_state`). :meth:`Partition.state` never changes a file: when
the head cannot be trusted it works the state out from the files (recovery.inspect).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from strom.errors import ConfigError, StorageError, TopicNotFoundError
from strom.log.local import recovery
from strom.log.local.config import TopicConfig
from strom.log.local.durability import (
    Durability,
    FsyncPolicy,
    fsync_dir,
    fsync_fd,
    storage_error,
    write_all,
)
from strom.log.local.head import Head, HeadState
from strom.log.local.index import NO_TIMESTAMP, SegmentIndex, read_index_file, write_entry
from strom.log.local.locks import FileLock
from strom.log.local.segment import EncodedBatch, seal
from strom.log.local.segments import Segment, index_name, list_bases, log_name


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Base offsets of the batches stored (in order), and the error that stopped the rest."""

    base_offsets: list[int]
    error: StorageError | None = None
    rolled: bool = False


class Partition:
    """One partition's files, shared by the producers and consumers of one process.

    Thread-safe: a writer thread and reader threads may share it. Several processes may
    open the same partition; see the module docstring for how they coordinate.
    """

    def __init__(
        self,
        topic: str,
        number: int,
        directory: Path,
        config: TopicConfig,
        durability: Durability,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topic = topic
        self.number = number
        self.dir = directory
        self.config = config
        self.durability = durability
        self.clock = clock
        try:
            self._dir_ino = os.stat(directory).st_ino
        except FileNotFoundError:
            raise TopicNotFoundError(
                f"topic {topic!r} partition {number} does not exist (no {directory})"
            ) from None
        self.lock = FileLock(directory / "lock")
        self.head = Head(directory / "head")
        self._segments: list[Segment] = []
        self._segments_version = -1
        self._list_mutex = threading.Lock()
        self._wfd = -1
        self._ifd = -1
        self._wbase = -1
        self._wpath = ""
        """The active segment's path, for error messages (built once, not per append)."""
        self._last_sync = time.monotonic()
        self._unsynced = False
        self.closed = False
        self.busy: Callable[[], bool] | None = None
        """When set and true, compaction waits (pending transactions are being applied)."""
        self._distrusted: HeadState | None = None
        """A head found to disagree with the files (readers then inspect the files)."""
        self._inspection: tuple[tuple[object, ...], HeadState, SegmentIndex] | None = None
        self._inspections = -2
        st = self.head.read()
        if st is not None:
            self._check_active_size(st)

    def __repr__(self) -> str:
        return f"Partition({self.topic!r}, {self.number}, {str(self.dir)!r})"

    # --- state -------------------------------------------------------------------------------

    def state(self) -> HeadState:
        """The published head; when it cannot be trusted, the state worked out from the files
        without changing them (readers never repair: only a writer does, under the lock)."""
        st = self.head.read()
        if st is not None and not st.segments_version & 1 and st != self._distrusted:
            return st
        if st is not None and st.segments_version & 1:
            # A compaction swap is under way (it holds the lock) or its process died.
            with self.lock:
                st = self.head.read()
            if st is not None and st != self._distrusted:
                return st
        return self._inspected()

    def _inspected(self) -> HeadState:
        """The state from the files (cached while they do not change)."""
        try:
            bases = tuple(list_bases(self.dir))
            stamp: tuple[object, ...] = (bases,)
            if bases:
                info = os.stat(self.dir / log_name(bases[-1]))
                stamp = (bases, info.st_ino, info.st_size, info.st_mtime_ns)
        except FileNotFoundError:
            stamp = ()
        except OSError as exc:
            raise storage_error("inspect partition", self.dir, exc) from exc
        cached = self._inspection
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with self.lock:  # no writer changes the files while they are read
            self._inspections -= 2
            try:
                st, index = recovery.inspect(
                    self.dir, self.config.index_interval_bytes, self._inspections
                )
            except OSError as exc:
                raise storage_error("inspect partition", self.dir, exc) from exc
        self._inspection = (stamp, st, index)
        return st

    def locked_state(self) -> HeadState:
        """The state, repaired first if needed (caller holds the lock: writers only)."""
        st = self.head.read()
        if st is None or st == self._distrusted:
            return self._recover(st)
        if st.segments_version & 1:
            # A compaction swap was interrupted by the death of its process: finish it.
            from strom.log.local.compaction import finish_interrupted

            try:
                finish_interrupted(self.dir, sync=self.durability.sync_metadata)
            except OSError as exc:
                raise storage_error("finish compaction swap", self.dir, exc) from exc
            st = st._replace(segments_version=st.segments_version + 1)
            self.head.write(st)
        return st

    def _recover(self, previous: HeadState | None) -> HeadState:
        self._close_writer()
        try:
            st = recovery.recover(
                self.dir,
                self.config.index_interval_bytes,
                previous=previous,
                sync=self.durability.sync_metadata,
                version=time.time_ns(),
            )
        except OSError as exc:
            raise storage_error("recover partition", self.dir, exc) from exc
        self.head.write(st)
        self._distrusted = None
        return st

    def _check_active_size(self, st: HeadState) -> None:
        """Distrust the head when the active segment is shorter than it says (truncated)."""
        try:
            size = os.stat(self.dir / log_name(st.active_base)).st_size
        except FileNotFoundError:
            size = -1
        if size < st.active_end:
            self._distrusted = st

    def verify(self) -> HeadState:
        """Re-check the active segment against the head (after a short read); returns the
        current state."""
        st = self.head.read()
        if st is not None:
            self._check_active_size(st)
        return self.state()

    def _check_exists(self) -> None:
        try:
            ino = os.stat(self.dir).st_ino
        except FileNotFoundError:
            ino = -1
        if ino != self._dir_ino:
            raise TopicNotFoundError(f"topic {self.topic!r} was deleted")

    # --- appending ---------------------------------------------------------------------------

    def _close_writer(self) -> None:
        for fd in (self._wfd, self._ifd):
            if fd >= 0:
                os.close(fd)
        self._wfd = self._ifd = self._wbase = -1
        self._wpath = ""

    def _open_writer(self, base: int) -> None:
        if self._wbase == base:
            return
        self._close_writer()
        path = self.dir / log_name(base)
        try:
            self._wfd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._ifd = os.open(
                self.dir / index_name(base), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
        except OSError as exc:
            self._close_writer()
            raise storage_error("open segment for append", path, exc) from exc
        self._wbase = base
        self._wpath = str(path)

    def _prepare(self) -> HeadState:
        """Under the lock: a trusted state and the writer's files, torn tail removed."""
        self._check_exists()
        st = self.locked_state()
        self._open_writer(st.active_base)
        size = os.fstat(self._wfd).st_size
        if size < st.active_end:
            st = self._recover(st)
            self._open_writer(st.active_base)
        elif size > st.active_end:
            # A writer died after writing part of a batch (never acknowledged): cut it off.
            os.ftruncate(self._wfd, st.active_end)
        return st

    def _sync(self, st: HeadState, force: bool = False) -> HeadState:
        """fsync the active segment per the policy (always with ``force``, except under
        ``none``); returns ``st`` with the durable end it reached."""
        policy = self.durability.policy
        if policy is FsyncPolicy.NONE:
            return st
        if not (policy is FsyncPolicy.BATCH or force):
            now = time.monotonic()
            if (now - self._last_sync) * 1000 < self.durability.interval_ms:
                self._unsynced = True
                return st
        fsync_fd(self._wfd, self._wpath)
        self._unsynced = False
        self._last_sync = time.monotonic()
        return st._replace(synced_offset=st.next_offset)

    def sync_if_due(self) -> None:
        """fsync pending data under ``fsync=interval`` (called by idle producers and close)."""
        if not self._unsynced or self.durability.policy is not FsyncPolicy.INTERVAL:
            return
        with self.lock:
            if self._wfd >= 0 and self._unsynced:
                st = self.head.read()
                fsync_fd(self._wfd, self._wpath)
                self._unsynced = False
                self._last_sync = time.monotonic()
                if st is not None and st.active_base == self._wbase:
                    self.head.write(st._replace(synced_offset=st.next_offset))

    def make_durable(self, offset: int) -> None:
        """Make sure the records before ``offset`` are on disk (fsync-ed), so that an offset
        commit up to ``offset`` never outlives the records it covers in a machine crash.

        Only ``fsync=interval`` has anything to do: under ``batch`` every append is fsync-ed
        before it is published, under ``none`` nothing is promised (the commit is not fsync-ed
        either). Sealed segments were fsync-ed when rolled, so only the active one is synced.
        """
        if self.durability.policy is not FsyncPolicy.INTERVAL:
            return
        st = self.head.read()
        if st is None or st.synced_offset >= min(offset, st.next_offset):
            return  # an untrusted head: the state was read back from the disk
        with self.lock:
            st = self.head.read()
            if st is None or st.synced_offset >= min(offset, st.next_offset):
                return
            path = self.dir / log_name(st.active_base)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise storage_error("open segment to fsync", path, exc) from exc
            try:
                fsync_fd(fd, path)
            finally:
                os.close(fd)
            if self._wbase == st.active_base:
                self._unsynced = False
                self._last_sync = time.monotonic()
            self.head.write(st._replace(synced_offset=st.next_offset))

    def _roll(self, st: HeadState) -> HeadState:
        """Seal the active segment and start a new one at the next offset (under the lock)."""
        return self._start_segment(self._seal(st))

    def _seal(self, st: HeadState) -> HeadState:
        """Make the active segment durable and publish ``st`` (what was written so far)."""
        os.ftruncate(self._ifd, st.index_entries * 16)  # drop entries of unpublished batches
        if self.durability.policy is not FsyncPolicy.NONE:
            fsync_fd(self._wfd, self._wpath)
            fsync_fd(self._ifd, self.dir / index_name(self._wbase))
            st = st._replace(synced_offset=st.next_offset)
        self.head.write(st)
        return st

    def _start_segment(self, st: HeadState) -> HeadState:
        base = st.next_offset
        path = self.dir / log_name(base)
        try:
            for name in (log_name(base), index_name(base)):
                fd = os.open(self.dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.close(fd)
        except OSError as exc:
            raise storage_error("create segment", path, exc) from exc
        if self.durability.sync_metadata:
            fsync_dir(self.dir)
        st = st._replace(
            active_base=base,
            active_end=0,
            segments_version=st.segments_version + 2,
            active_max_ts=NO_TIMESTAMP,
            active_created_ms=0,
            index_entries=0,
            last_index_position=0,
        )
        self.head.write(st)
        self._open_writer(base)
        return st

    def _due_roll(self, st: HeadState, size: int, now_ms: int) -> bool:
        if st.active_end == 0:
            return False
        return (
            st.active_end + size > self.config.segment_bytes
            or now_ms - st.active_created_ms >= self.config.segment_ms
        )

    def append(
        self, batches: Sequence[EncodedBatch], *, atomic: bool = False, sync: bool = False
    ) -> AppendResult:
        """Append batches (sealing each with its base offset), durable per the fsync policy
        (or fsync-ed whatever the policy but ``none``, with ``sync``).

        Never raises for storage failures: a failure is returned with the offsets of the
        batches stored before it; the file is cut back so no partial batch remains. With
        ``atomic``, all batches go into one segment and are published together (all or none).

        Raises:
            TopicNotFoundError: the topic was deleted.
        """
        offsets: list[int] = []
        rolled = False
        interval = self.config.index_interval_bytes
        with self.lock:
            published: HeadState | None = None
            try:
                st = self._prepare()
                published = st
                now_ms = int(self.clock() * 1000)
                for i, batch in enumerate(batches):
                    size = batch.size
                    if (not atomic or i == 0) and self._due_roll(st, size, now_ms):
                        st = published = self._start_segment(self._seal(st))
                        rolled = True
                    base = st.next_offset
                    seal(batch.header, base)
                    pos = st.active_end
                    written = os.pwritev(self._wfd, [batch.header, batch.body], pos)
                    if written < size:
                        write_all(
                            self._wfd, (bytes(batch.header) + batch.body)[written:], pos + written
                        )
                    entries, last_pos = st.index_entries, st.last_index_position
                    if pos and pos - last_pos >= interval:
                        write_entry(
                            self._ifd, entries, base - st.active_base, pos, st.active_max_ts
                        )
                        entries += 1
                        last_pos = pos
                    st = st._replace(
                        next_offset=base + batch.record_count,
                        active_end=pos + size,
                        active_max_ts=max(st.active_max_ts, batch.max_timestamp),
                        active_created_ms=st.active_created_ms or now_ms,
                        index_entries=entries,
                        last_index_position=last_pos,
                    )
                    offsets.append(base)
                st = self._sync(st, sync)
                self.head.write(st)
                return AppendResult(offsets, None, rolled)
            except TopicNotFoundError:
                raise
            except (OSError, StorageError) as exc:
                error = (
                    exc
                    if isinstance(exc, StorageError)
                    else storage_error(
                        f"append to topic {self.topic!r} partition {self.number}",
                        self._wpath or self.dir,
                        exc,
                    )
                )
                kept = 0
                if published is not None:
                    kept = sum(1 for o in offsets if o < published.next_offset)
                    if self._wfd >= 0 and self._wbase == published.active_base:
                        with contextlib.suppress(OSError):
                            os.ftruncate(self._wfd, published.active_end)
                return AppendResult(offsets[:kept], error, rolled)

    # --- segments for readers ----------------------------------------------------------------

    def segments(self, st: HeadState | None = None) -> list[Segment]:
        """The segments (ascending base offset), refreshed when the head says they changed."""
        st = st or self.state()
        if st.segments_version == self._segments_version:
            return self._segments
        # The partition lock first, as every writer that lists segments under it does.
        with self.lock, self._list_mutex:
            st = self.state()
            current = {s.base: s for s in self._segments}
            fresh: list[Segment] = []
            bases = list_bases(self.dir)
            for i, base in enumerate(bases):
                if base > st.active_base:
                    continue  # created by a roll that was not published (crash)
                if i + 1 < len(bases) and bases[i + 1] <= st.log_start:
                    continue  # wholly below the log start: being deleted
                seg = current.get(base)
                try:
                    if seg is None or os.stat(seg.path).st_ino != seg.ino:
                        seg = Segment(self.dir, base)
                except FileNotFoundError:
                    continue
                fresh.append(seg)
            self._segments = fresh
            self._segments_version = st.segments_version
            return fresh

    def segment_at(self, offset: int, st: HeadState) -> Segment | None:
        """The segment that holds ``offset`` (the last one starting at or before it)."""
        found = None
        for seg in self.segments(st):
            if seg.base <= offset:
                found = seg
            else:
                break
        return found

    def limit(self, seg: Segment, st: HeadState) -> int:
        """Readable bytes of ``seg``: the published end for the active segment."""
        if seg.base == st.active_base:
            return st.active_end
        if seg.base > st.active_base:
            return 0
        return seg.sealed_size()

    def index(self, seg: Segment, st: HeadState) -> SegmentIndex:
        """The index of ``seg`` (the active one is re-read: it grows)."""
        if seg.base == st.active_base:
            inspection = self._inspection
            if inspection is not None and inspection[1] is st:
                return inspection[2]  # the head is not trusted: nor is the index file
            return read_index_file(str(seg.index_path), seg.base, st.active_end, st.index_entries)
        return seg.sealed_index()

    # --- maintenance -------------------------------------------------------------------------

    def enforce_retention(self) -> int:
        """Delete segments past ``retention.ms`` / ``retention.bytes``; returns how many."""
        cfg = self.config
        if not cfg.delete or (cfg.retention_ms < 0 and cfg.retention_bytes < 0):
            return 0
        now_ms = int(self.clock() * 1000)
        with self.lock:
            st = self._prepare()
            expired_active = (
                cfg.retention_ms >= 0
                and st.active_end > 0
                and st.active_max_ts < now_ms - cfg.retention_ms
            )
            if expired_active:
                st = self._roll(st)
            segments = self.segments(st)
            sealed = [s for s in segments if s.base < st.active_base]
            doomed: list[Segment] = []
            if cfg.retention_ms >= 0:
                for seg in sealed:
                    if seg.max_timestamp() >= now_ms - cfg.retention_ms:
                        break
                    doomed.append(seg)
            if cfg.retention_bytes >= 0:
                total = sum(s.sealed_size() for s in sealed) + st.active_end
                total -= sum(s.sealed_size() for s in doomed)
                for seg in sealed[len(doomed) :]:
                    if total - seg.sealed_size() < cfg.retention_bytes:
                        break
                    doomed.append(seg)
                    total -= seg.sealed_size()
            if not doomed:
                return 0
            keep = [s for s in segments if s not in doomed]
            st = st._replace(
                log_start=max(st.log_start, keep[0].base),
                segments_version=st.segments_version + 2,
            )
            self.head.write(st)
            self._delete(doomed)
            return len(doomed)

    def _delete(self, doomed: Sequence[Segment]) -> None:
        for seg in doomed:
            for path in (seg.path, seg.index_path):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    if exc.errno != errno.ENOENT:
                        raise storage_error("delete segment", path, exc) from exc

    def delete_records(self, offset: int) -> int:
        """Move the log start (low watermark) up to ``offset``: records before it are gone
        for readers at once, and every segment wholly below it is deleted. Returns the new
        log start (unchanged when ``offset`` is not above it).

        Raises:
            ConfigError: ``offset`` is past the end of the partition.
        """
        with self.lock:
            st = self._prepare()
            if offset > st.next_offset:
                raise ConfigError(
                    f"delete_records: offset {offset} is past the end of topic {self.topic!r} "
                    f"partition {self.number} (high watermark {st.next_offset})"
                )
            if offset <= st.log_start:
                return st.log_start
            # Stored first: after a crash the deleted records must not come back.
            recovery.write_log_start(self.dir, offset, sync=self.durability.sync_metadata)
            segments = self.segments(st)
            doomed = [
                seg
                for seg, after in pairwise(segments)
                if after.base <= offset and seg.base < st.active_base
            ]
            st = st._replace(log_start=offset, segments_version=st.segments_version + 2)
            self.head.write(st)
            self._delete(doomed)
            return offset

    def maintain(self) -> None:
        """Retention, then compaction for compacted topics (both bounded to this partition)."""
        self.enforce_retention()
        if self.config.compact:
            from strom.log.local.compaction import compact

            compact(self)

    def close(self) -> None:
        """Release files (syncing pending data under ``fsync=interval``)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(StorageError):
            self.sync_if_due()
        with self.lock:
            self._close_writer()
        for seg in self._segments:
            seg.close()
        self.head.close()
        self.lock.close()
