"""Retention and compaction off the append path: one background thread per log.

A producer whose append rolls a segment hands the partition to :class:`Maintainer` and goes
on appending; the maintainer's thread runs retention and compaction (which take the
partition lock only for their short final step: deleting files, or swapping in the cleaned
segments). So a large compaction never holds up the producer's writes or its delivery
reports.
"""

from __future__ import annotations

import logging
import threading
import time

from strom.errors import StromError
from strom.log.local.partition import Partition

log = logging.getLogger(__name__)


class Maintainer:
    """Runs :meth:`Partition.maintain` for partitions that rolled, on its own thread.

    Example:
        >>> m = Maintainer()
        >>> m.wait_idle(1.0)
        True
        >>> m.close(1.0)
    """

    def __init__(self) -> None:
        self._pending: dict[int, Partition] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def schedule(self, partition: Partition) -> None:
        """Run retention and compaction of ``partition`` soon (once, however often asked)."""
        with self._cond:
            if self._closed:
                return
            self._pending.setdefault(id(partition), partition)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="strom-local-maintenance", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                _, partition = self._pending.popitem()
                self._busy = True
            try:
                if not partition.closed:
                    partition.maintain()
            except StromError:
                log.exception("maintenance of %s failed", partition)
            except Exception:  # a bug must not kill the thread that serves every partition
                log.exception("maintenance of %s failed unexpectedly", partition)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until nothing is scheduled or running; True if so."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float) -> None:
        """Stop the thread (work in progress finishes; what is only scheduled is dropped:
        the next roll or ``maintain()`` does it)."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
