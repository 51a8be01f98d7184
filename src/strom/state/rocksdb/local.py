"""The files beside a RocksDB store partition: lock, identity, checkpoint, clean-close marker.

Layout of one store partition (``<state_dir>/<app>/<store>/<partition>/``)::

    LOCK         flock held while a process has the store open (never deleted)
    IDENTITY     app, store, partition, kind, changelog topic, format and layout versions
    CHECKPOINT   the next changelog offset the local copy reflects
    CLEAN        written by a clean close: size and CRC-32C of every file of db/
    db/          the RocksDB instance

IDENTITY, CHECKPOINT and CLEAN are one JSON line followed by its CRC-32C (hex), written
atomically (temporary file, fsync, rename, fsync of the directory). The local copy is trusted
only when all three are present, intact and agree with what is being opened, and every file
of ``db/`` is byte for byte what the clean close left (so a flipped byte in an SST or the
MANIFEST is caught before RocksDB reads it). Anything else — foreign, corrupt, unclean,
unreadable — is wiped and reported: the store restores the whole changelog. Opening deletes
CLEAN and CHECKPOINT, so a crash while open always counts as unclean.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastcrc.crc32 import iscsi as crc32c  # CRC-32C (Castagnoli)

from strom.errors import StateError
from strom.state.types import Recovery

log = logging.getLogger("strom.state")

FORMAT = 1
"""Version of these files' format (part of the identity)."""

_LOCK, _IDENTITY, _CHECKPOINT, _CLEAN, _DB = "LOCK", "IDENTITY", "CHECKPOINT", "CLEAN", "db"
# RocksDB's info log changes on every open and holds no data; its lock file is empty.
_UNCHECKED_PREFIXES = ("LOG", "LOCK")


class _Untrusted(Exception):
    """The local copy must not be used; the message says why."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_signed(path: Path, body: Mapping[str, Any]) -> None:
    """Write ``body`` as a JSON line plus its CRC-32C, atomically and durably."""
    line = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    data = line + b"\n" + f"{crc32c(line):08x}\n".encode()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_signed(path: Path) -> dict[str, Any]:
    """The body of a signed file; :class:`_Untrusted` when missing, torn or corrupt."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _Untrusted(f"{path.name} is missing") from None
    except OSError as exc:
        raise _Untrusted(f"{path.name} is unreadable ({exc.strerror})") from None
    parts = data.split(b"\n")
    if len(parts) != 3 or parts[2] != b"":
        raise _Untrusted(f"{path.name} is truncated or malformed ({len(data)} bytes)")
    try:
        stored_crc = int(parts[1], 16)
    except ValueError:
        raise _Untrusted(f"{path.name} has a malformed checksum") from None
    if crc32c(parts[0]) != stored_crc:
        raise _Untrusted(f"{path.name} fails its CRC-32C check (corrupt)")
    try:
        body = json.loads(parts[0])
    except ValueError:
        raise _Untrusted(f"{path.name} is not valid JSON") from None
    if not isinstance(body, dict):
        raise _Untrusted(f"{path.name} does not hold an object")
    return body


def _file_crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as src:
        while chunk := src.read(1 << 20):
            crc = crc32c(chunk, crc)
    return crc


def db_files(db: Path) -> dict[str, list[int]]:
    """``{name: [size, crc32c]}`` of every data-bearing file of the RocksDB directory."""
    out: dict[str, list[int]] = {}
    for entry in sorted(os.scandir(db), key=lambda e: e.name):
        if entry.name.startswith(_UNCHECKED_PREFIXES):
            continue
        if not entry.is_file(follow_symlinks=False):
            raise _Untrusted(f"db/{entry.name} is not a regular file")
        out[entry.name] = [entry.stat().st_size, _file_crc(Path(entry.path))]
    return out


class LocalCopy:
    """Lock, validation, wipe and marker files of one RocksDB store partition."""

    def __init__(self, path: Path, identity: Mapping[str, Any], where: str) -> None:
        self.path = path
        self.db = path / _DB
        self._identity = {"format": FORMAT, **identity}
        self._where = where
        self._lock_fd: int | None = None
        self._offset: int | None = None
        self._offset_on_disk = False

    # -- open -----------------------------------------------------------------------------

    def open(self) -> Recovery:
        """Lock the directory, decide whether to trust it, wipe it if not; invalidate markers."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"{self._where}: cannot create {self.path}: {exc.strerror}") from exc
        self._lock()
        try:
            self._refuse_if_rocksdb_is_held()
            recovery = self._decide()
            if recovery.needs_full_restore:
                self.wipe()
                write_signed(self.path / _IDENTITY, self._identity)
            self._offset = recovery.checkpoint_offset
            self._invalidate()
            self.db.mkdir(exist_ok=True)
        except OSError as exc:
            self.release()
            raise StateError(
                f"{self._where}: cannot prepare the local copy at {self.path}: {exc}"
            ) from exc
        except BaseException:
            self.release()
            raise
        return recovery

    def _lock(self) -> None:
        fd = os.open(self.path / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StateError(
                    f"{self._where}: the local copy at {self.path} is open in another task or "
                    "process (its LOCK is held); a store partition is opened once at a time"
                ) from None
            raise StateError(f"{self._where}: cannot lock {self.path}: {exc.strerror}") from exc
        self._lock_fd = fd

    def _refuse_if_rocksdb_is_held(self) -> None:
        """Refuse (never wipe) a copy whose RocksDB lock another process holds.

        RocksDB locks ``db/LOCK`` with a POSIX record lock; F_GETLK reports another process's
        lock without taking one (taking and dropping one would release RocksDB's own lock if
        this process held it). An instance open in this very process is not visible here:
        strom's own LOCK keeps two stores of one process apart.
        """
        try:
            fd = os.open(self.db / "LOCK", os.O_RDWR)
        except OSError:
            return
        try:
            query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
            answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
            lock_type, _, _, _, pid = struct.unpack("hhqqi4x", answer)
        except OSError:
            return
        finally:
            os.close(fd)
        if lock_type != fcntl.F_UNLCK:
            raise StateError(
                f"{self._where}: the RocksDB instance at {self.db} is open in process {pid}; "
                "refusing to touch it"
            )

    def _decide(self) -> Recovery:
        present = [p for p in os.listdir(self.path) if p != _LOCK]
        if not present:
            log.info(
                "%s: no local copy at %s; the store restores its whole changelog",
                self._where,
                self.path,
            )
            return Recovery.full(f"no local copy at {self.path}")
        try:
            offset = self._validate()
        except _Untrusted as exc:
            reason = f"local copy at {self.path} is not trusted: {exc}"
            log.warning(
                "%s: %s; wiping it, the store restores its whole changelog", self._where, reason
            )
            return Recovery.full(reason, wiped=True)
        log.info(
            "%s: trusting the clean local copy at %s up to changelog offset %d",
            self._where,
            self.path,
            offset,
        )
        return Recovery.from_checkpoint(
            offset, f"clean local copy at {self.path} (changelog checkpoint {offset})"
        )

    def _validate(self) -> int:
        identity = read_signed(self.path / _IDENTITY)
        if identity != self._identity:
            differ = sorted(
                k
                for k in set(identity) | set(self._identity)
                if identity.get(k) != self._identity.get(k)
            )
            found = ", ".join(f"{k}={identity.get(k)!r}" for k in differ)
            wanted = ", ".join(f"{k}={self._identity.get(k)!r}" for k in differ)
            raise _Untrusted(f"it belongs elsewhere: IDENTITY has {found}, expected {wanted}")
        clean_path = self.path / _CLEAN
        if not clean_path.exists():
            raise _Untrusted(
                "it was not closed cleanly (no CLEAN marker: the process stopped while the "
                "store was open)"
            )
        clean = read_signed(clean_path).get("files")
        if not isinstance(clean, dict):
            raise _Untrusted("the CLEAN marker lists no files")
        if not (self.path / _CHECKPOINT).exists():
            raise _Untrusted("it was closed without a checkpoint (no changelog offset)")
        checkpoint = read_signed(self.path / _CHECKPOINT).get("offset")
        if type(checkpoint) is not int or checkpoint < 0:
            raise _Untrusted(f"CHECKPOINT holds no valid offset ({checkpoint!r})")
        if not self.db.is_dir():
            raise _Untrusted("db/ is missing")
        try:
            found_files = db_files(self.db)
        except OSError as exc:
            raise _Untrusted(f"db/ is unreadable ({exc})") from None
        for name in sorted(set(clean) | set(found_files)):
            if name not in found_files:
                raise _Untrusted(f"db/{name} is missing since the clean close")
            if name not in clean:
                raise _Untrusted(f"db/{name} appeared since the clean close")
            if found_files[name] != clean[name]:
                size, crc = clean[name]
                raise _Untrusted(
                    f"db/{name} changed since the clean close (size {found_files[name][0]}, "
                    f"CRC-32C {found_files[name][1]:08x}; expected size {size}, CRC {crc:08x})"
                )
        return checkpoint

    def _invalidate(self) -> None:
        for name in (_CLEAN, _CHECKPOINT):
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()
        _fsync_dir(self.path)

    def wipe(self) -> None:
        """Delete everything but the lock (the caller holds it)."""
        for entry in os.scandir(self.path):
            if entry.name == _LOCK:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        _fsync_dir(self.path)

    def rewipe(self) -> None:
        """Wipe after RocksDB refused the copy: a fresh identity and an empty db/."""
        self.wipe()
        write_signed(self.path / _IDENTITY, self._identity)
        self._offset = None
        self.db.mkdir()

    # -- checkpoint and close -------------------------------------------------------------

    def write_checkpoint(self, offset: int) -> None:
        """Write CHECKPOINT atomically (trusted only together with a clean-close marker)."""
        write_signed(self.path / _CHECKPOINT, {"offset": offset})
        self._offset = offset
        self._offset_on_disk = True

    @property
    def offset(self) -> int | None:
        """The checkpoint from open or the last ``write_checkpoint``."""
        return self._offset

    def mark_clean(self) -> None:
        """After RocksDB closed: checkpoint (if any) and the clean-close marker."""
        if self._offset is None:
            log.info("%s: closed without a checkpoint; the next open restores fully", self._where)
        elif not self._offset_on_disk:
            write_signed(self.path / _CHECKPOINT, {"offset": self._offset})
        write_signed(self.path / _CLEAN, {"files": db_files(self.db)})

    def release(self) -> None:
        """Release the lock."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
