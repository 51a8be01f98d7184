"""One RocksDB instance per store partition, through rocksdict in raw-bytes mode.

Commits are one ``WriteBatch`` with the write-ahead log on and no fsync (a crash makes the copy
unclean, and an unclean copy is wiped, so per-commit durability would buy nothing). Restore
writes batches with the WAL off; the sync point is the memtable flush of a clean close, before
the clean-close marker is written.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rocksdict import Options, Rdict, ReadOptions, WriteBatch, WriteOptions

from strom.errors import StateError
from strom.state.rocksdb.local import LocalCopy
from strom.state.types import Change, Recovery

log = logging.getLogger("strom.state")

_WRITE_BUFFER_BYTES = 16 << 20  # per store partition: many partitions share one process


def _options() -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(_WRITE_BUFFER_BYTES)
    options.set_max_write_buffer_number(3)
    options.set_keep_log_file_num(2)
    options.set_max_log_file_size(1 << 20)
    options.set_max_background_jobs(2)
    return options


class RocksDBEngine:
    """Ordered bytes storage in a RocksDB directory with strom's local-copy files."""

    backend = "rocksdb"

    def __init__(self, path: Path, identity: Mapping[str, Any], where: str) -> None:
        self._where = where
        self._local = LocalCopy(path, identity, where)
        self.recovery: Recovery = self._local.open()
        try:
            self._db = self._open_db()
        except Exception as exc:
            # A lock error means a live instance (never wipe under it); an empty directory
            # means RocksDB itself fails: neither is the local copy's fault.
            if "lock" in str(exc).lower() or not any(self._local.db.iterdir()):
                self._local.release()
                raise StateError(f"{where}: RocksDB cannot open {self._local.db}: {exc}") from exc
            reason = f"RocksDB refused the local copy at {self._local.db}: {exc}"
            log.warning("%s: %s; wiping it, the store restores its whole changelog", where, reason)
            try:
                self._local.rewipe()
                self._db = self._open_db()
            except Exception as again:
                self._local.release()
                raise StateError(
                    f"{where}: RocksDB cannot open a fresh copy at {self._local.db}: {again}"
                ) from again
            self.recovery = Recovery.full(reason, wiped=True)
        self._write_opts = WriteOptions()
        self._bulk_opts = WriteOptions()
        # rocksdict exposes disable_wal as a property (its stub says method).
        setattr(self._bulk_opts, "disable_wal", True)  # noqa: B010
        self.get: Callable[[bytes], bytes | None] = self._db.get
        # Open iterations hold the RocksDB instance: close() ends them first, or the instance
        # would outlive close() and hold its files.
        self._iterations: weakref.WeakSet[Generator[tuple[bytes, bytes], None, None]] = (
            weakref.WeakSet()
        )

    def _open_db(self) -> Rdict:
        return Rdict(str(self._local.db), _options())

    @property
    def path(self) -> Path:
        """The store partition's directory."""
        return self._local.path

    def iterate(self, lo: bytes, hi: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        """Entries with ``lo <= key < hi`` in byte order (an implicit RocksDB snapshot)."""
        iteration = self._iterate(lo, hi)
        self._iterations.add(iteration)
        return iteration

    def _iterate(self, lo: bytes, hi: bytes | None) -> Generator[tuple[bytes, bytes], None, None]:
        read_opts = ReadOptions()
        if hi is not None:
            read_opts.set_iterate_upper_bound(hi)
        it = self._db.iter(read_opts)
        it.seek(lo)
        while it.valid():
            yield it.key(), it.value()
            it.next()

    def write(
        self,
        changes: Sequence[Change],
        delete_ranges: Sequence[tuple[bytes, bytes]] = (),
        *,
        bulk: bool = False,
    ) -> None:
        """One WriteBatch: range deletes, then puts and deletes."""
        batch = WriteBatch(raw_mode=True)
        for lo, hi in delete_ranges:
            batch.delete_range(lo, hi)
        put, delete = batch.put, batch.delete
        for key, value in changes:
            if value is None:
                delete(key)
            else:
                put(key, value)
        self._db.write(batch, self._bulk_opts if bulk else self._write_opts)

    def count(self) -> int:
        """RocksDB's estimate of the number of keys."""
        return self._db.property_int_value("rocksdb.estimate-num-keys") or 0

    def disk_bytes(self) -> int | None:
        """Bytes of the files in the RocksDB directory."""
        total = 0
        for entry in os.scandir(self._local.db):
            try:
                total += entry.stat().st_size
            except FileNotFoundError:
                continue  # a file compaction just deleted
        return total

    def write_checkpoint(self, offset: int) -> None:
        """Write the CHECKPOINT file (atomic, fsynced)."""
        try:
            self._local.write_checkpoint(offset)
        except OSError as exc:
            raise StateError(f"{self._where}: cannot write the checkpoint: {exc}") from exc

    def checkpointed_offset(self) -> int | None:
        """The checkpoint from open or the last ``write_checkpoint``."""
        return self._local.offset

    def close(self) -> None:
        """Flush memtables (the sync point after a WAL-less restore), close, mark clean."""
        for iteration in list(self._iterations):
            iteration.close()
        try:
            try:
                self._db.flush(wait=True)
            finally:
                self._db.close()
            self._local.mark_clean()
        except Exception as exc:
            raise StateError(
                f"{self._where}: closing the local copy at {self._local.path} failed: {exc}; "
                "it is not marked clean and will be restored from the changelog"
            ) from exc
        finally:
            self._local.release()
