"""Log compaction for topics with ``cleanup.policy=compact``: keep the last value per key.

When it runs: after a segment roll on a compacted topic (on the log's maintenance thread,
see maintenance.py: never on a producer's append path), and on :meth:`LocalLog.maintain`.
It is bounded: one partition's sealed segments, and it only runs when the dirty part
(segments written since the last cleaning) is at least ``min.cleanable.dirty.ratio`` of the
sealed bytes, or when kept tombstones have passed their deletion time. The active segment is
never touched, and segments younger than ``min.compaction.lag.ms`` neither.

How:

1. under a ``clean.lock`` (one cleaner per partition at a time, any process), read the sealed
   segments and map each key to its latest offset;
2. write the survivors, batch by batch (a batch left whole is copied byte for byte; a thinned
   one is re-encoded with its offsets kept), into ``.cleaned`` files grouped up to
   ``segment.bytes``, and fsync them;
3. under the partition lock: write ``compaction.manifest`` (the commit point), mark the head
   (odd segments version), replace the input segments by the outputs with renames, fsync the
   directory, mark the head done and delete the manifest.

A crash before step 3 leaves ``.cleaned`` files that recovery deletes; a crash inside step 3
leaves the manifest and the odd mark: the next process that takes the partition lock
finishes the swap (:func:`finish_interrupted`), which is idempotent.

Tombstones (None values) survive one cleaning: it stamps their batch with a delete horizon
(``now + delete.retention.ms``) and a cleaning after that horizon removes them, so consumers
have ``delete.retention.ms`` to see a delete.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from strom.errors import CorruptRecordError
from strom.log.local.durability import atomic_write, fsync_dir, storage_error, write_all
from strom.log.local.index import SegmentIndex, encode_index
from strom.log.local.locks import try_lock
from strom.log.local.segment import body_ok, decode_columns, parse_header, reencode, seal
from strom.log.local.segments import Segment, index_name, log_name

if TYPE_CHECKING:
    from strom.log.local.partition import Partition

log = logging.getLogger(__name__)

MANIFEST = "compaction.manifest"
CHECKPOINT = "cleaner.json"


@dataclass(frozen=True, slots=True)
class CompactionResult:
    """What one cleaning did."""

    records_before: int
    records_after: int
    segments_before: int
    segments_after: int


def finish_interrupted(directory: Path, *, sync: bool) -> None:
    """Complete a swap that a crash interrupted (idempotent); no-op without a manifest."""
    manifest = directory / MANIFEST
    try:
        plan = json.loads(manifest.read_bytes())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:  # an incomplete manifest was never committed
        log.warning("ignoring unreadable %s: %s", manifest, exc)
        manifest.unlink(missing_ok=True)
        return
    outputs = set(plan["outputs"])
    for base in plan["outputs"]:
        cleaned = directory / (log_name(base) + ".cleaned")
        if cleaned.exists():
            os.replace(cleaned, directory / log_name(base))
        cleaned_index = directory / (index_name(base) + ".cleaned")
        if cleaned_index.exists():
            os.replace(cleaned_index, directory / index_name(base))
    for base in plan["inputs"]:
        if base not in outputs:
            (directory / log_name(base)).unlink(missing_ok=True)
            (directory / index_name(base)).unlink(missing_ok=True)
    if sync:
        fsync_dir(directory)
    manifest.unlink(missing_ok=True)


def _read_checkpoint(directory: Path) -> tuple[int, int]:
    try:
        data = json.loads((directory / CHECKPOINT).read_bytes())
        return int(data["cleaned_to"]), int(data["tombstone_horizon"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, 0


class _Output:
    """Cleaned segments being written."""

    def __init__(self, directory: Path, segment_bytes: int, interval: int, first_base: int) -> None:
        self.directory = directory
        self.first_base = first_base
        self.segment_bytes = segment_bytes
        self.interval = interval
        self.done: list[tuple[int, SegmentIndex]] = []
        self._fd = -1
        self._base = -1
        self._size = 0
        self._last_index = 0
        self._max_ts = -(2**63)
        self._index = SegmentIndex(0)

    def add(self, raw: bytes, base_offset: int, max_ts: int) -> None:
        if self._fd >= 0 and self._size + len(raw) > self.segment_bytes:
            self.finish()
        if self._fd < 0:
            # The first output keeps the name of the first input, as on Kafka: segments
            # still start at the log start offset.
            name_base = base_offset if self.done else self.first_base
            path = self.directory / (log_name(name_base) + ".cleaned")
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            self._base, self._size, self._last_index = name_base, 0, 0
            self._max_ts = -(2**63)
            self._index = SegmentIndex(name_base)
        if self._size and self._size - self._last_index >= self.interval:
            self._index.add(base_offset, self._size, self._max_ts)
            self._last_index = self._size
        write_all(self._fd, raw, self._size)
        self._size += len(raw)
        self._max_ts = max(self._max_ts, max_ts)

    def finish(self, sync: bool = True) -> None:
        if self._fd < 0:
            return
        if sync:
            os.fdatasync(self._fd)
        os.close(self._fd)
        self._fd = -1
        index_path = self.directory / (index_name(self._base) + ".cleaned")
        index_path.write_bytes(encode_index(self._index))
        self.done.append((self._base, self._index))

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        for name in os.listdir(self.directory):
            if name.endswith(".cleaned"):
                (self.directory / name).unlink(missing_ok=True)


def _batches(segments: list[Segment]) -> Iterator[bytes]:
    """Every batch of ``segments``, checksum-checked, one at a time (memory stays small)."""
    for seg in segments:
        for pos, header in seg.headers(0, seg.sealed_size()):
            data = seg.pread(header.length, pos)
            if not body_ok(data, 0, header):
                raise CorruptRecordError(
                    f"corrupt record batch in {seg.path} at byte {pos}: compaction stopped"
                )
            yield data


def compact(partition: Partition, *, force: bool = False) -> CompactionResult | None:
    """Clean the sealed segments of ``partition`` if due (always with ``force``).

    Returns what was done, or None when nothing was due or another cleaner is at work.
    """
    p = partition
    lock_fd = os.open(p.dir / "clean.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if not try_lock(lock_fd):
            return None
        if p.busy is not None and p.busy():
            return None
        return _compact_locked(p, force)
    except CorruptRecordError as exc:
        log.error("compaction of %s skipped: %s", p, exc)
        return None
    finally:
        os.close(lock_fd)


def _compact_locked(p: Partition, force: bool) -> CompactionResult | None:
    cfg = p.config
    now_ms = int(p.clock() * 1000)
    st = p.state()
    segments = [s for s in p.segments(st) if s.base < st.active_base]
    if cfg.min_compaction_lag_ms > 0:
        young = [s for s in segments if s.max_timestamp() > now_ms - cfg.min_compaction_lag_ms]
        if young:
            segments = segments[: segments.index(young[0])]
    if not segments:
        return None
    cleaned_to, horizon = _read_checkpoint(p.dir)
    total = sum(s.sealed_size() for s in segments)
    dirty = sum(s.sealed_size() for s in segments if s.base >= cleaned_to)
    due = total > 0 and dirty / total >= cfg.min_cleanable_dirty_ratio and dirty > 0
    if not (force or due or (horizon and now_ms >= horizon)):
        return None
    log.info(
        "compacting %s: %d sealed segments, %d bytes (%d dirty)", p, len(segments), total, dirty
    )
    # Pass 1: the latest offset of every key.
    latest: dict[bytes | None, int] = {}
    for data in _batches(segments):
        offsets, _, keys, _, _ = decode_columns(data, 0, parse_header(data, 0))
        latest.update(zip(keys, offsets, strict=True))
    # Pass 2: write the survivors.
    out = _Output(p.dir, cfg.segment_bytes, cfg.index_interval_bytes, segments[0].base)
    before = after = 0
    next_horizon = 0
    sync = p.durability.sync_metadata
    try:
        for data in _batches(segments):
            header = parse_header(data, 0)
            columns = decode_columns(data, 0, header)
            offsets, _, keys, values, _ = columns
            batch_horizon = header.delete_horizon
            keep: list[int] = []
            tombstones = False
            for i, (offset, key, value) in enumerate(zip(offsets, keys, values, strict=True)):
                if key is not None and latest.get(key) != offset:
                    continue
                if key is not None and value is None:
                    if batch_horizon and now_ms >= batch_horizon:
                        continue
                    tombstones = True
                keep.append(i)
            before += header.record_count
            after += len(keep)
            if not keep:
                continue
            if tombstones:
                if not batch_horizon:
                    batch_horizon = now_ms + cfg.delete_retention_ms
                next_horizon = min(next_horizon or batch_horizon, batch_horizon)
            if len(keep) == header.record_count and batch_horizon == header.delete_horizon:
                out.add(data, header.base_offset, header.max_timestamp)
                continue
            batch = reencode(columns, keep, header, batch_horizon)
            seal(batch.header, header.base_offset)
            out.add(bytes(batch.header) + batch.body, header.base_offset, batch.max_timestamp)
        out.finish(sync)
    except OSError as exc:
        out.discard()
        raise storage_error("write compacted segment", p.dir, exc) from exc
    except BaseException:
        out.discard()
        raise
    outputs = [base for base, _ in out.done]
    inputs = [s.base for s in segments]
    with p.lock:
        st = p.locked_state()
        current = {s.base: s.ino for s in p.segments(st)}
        if any(current.get(s.base) != s.ino for s in segments):
            out.discard()  # retention or another cleaner changed the inputs meanwhile
            return None
        try:
            atomic_write(
                p.dir / MANIFEST,
                json.dumps({"inputs": inputs, "outputs": outputs}).encode(),
                sync=sync,
            )
            odd = st._replace(segments_version=st.segments_version + 1)
            p.head.write(odd)
            finish_interrupted(p.dir, sync=sync)
            p.head.write(st._replace(segments_version=st.segments_version + 2))
        except OSError as exc:
            raise storage_error("swap compacted segments", p.dir, exc) from exc
    atomic_write(
        p.dir / CHECKPOINT,
        json.dumps({"cleaned_to": st.active_base, "tombstone_horizon": next_horizon}).encode(),
        sync=False,
    )
    log.debug("compacted %s: %d -> %d records", p, before, after)
    return CompactionResult(before, after, len(inputs), len(outputs))
