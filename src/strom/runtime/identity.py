"""A stable identity per application process: the transactional id under exactly-once.

Kafka's exactly-once (EOS v2) needs one transactional producer per process. Its id must be
stable across restarts of the same process, so that the restarted producer fences its
predecessor's open transaction at once (a fresh random id would leave it open until the
transaction timeout, and read-committed readers stuck behind it). Processes of one
application on one machine share the state directory; each takes the first free *slot*
``<state_dir>/<app>/process-<n>.lock`` (an exclusive lock held while it runs) and keeps the
random id written once beside it.

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> first, second = ProcessSlot.take(d, "orders"), ProcessSlot.take(d, "orders")
    >>> first.slot, second.slot, first.transactional_id != second.transactional_id
    (0, 1, True)
    >>> first.release(); again = ProcessSlot.take(d, "orders")
    >>> again.transactional_id == first.transactional_id
    True
    >>> again.release(); second.release()
"""

from __future__ import annotations

import fcntl
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from strom.errors import ConfigError

MAX_SLOTS = 256


@dataclass(slots=True)
class ProcessSlot:
    """A held slot: its number, the transactional id, and the lock's file descriptor."""

    slot: int
    transactional_id: str
    fd: int

    @classmethod
    def take(cls, state_dir: str | os.PathLike[str], app: str) -> ProcessSlot:
        """The first free slot of ``app`` in ``state_dir`` (created when missing)."""
        base = Path(state_dir) / app
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the state directory {base}: {exc}") from exc
        for slot in range(MAX_SLOTS):
            fd = os.open(base / f"process-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            id_file = base / f"process-{slot}.id"
            try:
                known = id_file.read_text().strip()
            except FileNotFoundError:
                known = ""
            if not known:
                known = uuid.uuid4().hex
                tmp = id_file.with_suffix(".tmp")
                tmp.write_text(known)
                os.replace(tmp, id_file)
            return cls(slot, f"{app}-{known}", fd)
        raise ConfigError(
            f"more than {MAX_SLOTS} processes of application {app!r} share the state "
            f"directory {base}"
        )

    def release(self) -> None:
        """Let another process take the slot."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
