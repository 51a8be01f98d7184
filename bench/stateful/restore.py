"""Restore of a strom application's stores into a fresh process, timed.

The runner gives this script the configuration of a finished run (the same application name,
topics and ``mode``, so the same stores and changelog topics) with a new, empty ``state_dir``:
every store partition is restored in full from its changelog (memory: always; RocksDB: no
local copy). The input group's offsets are at the end, so once restored the application has
nothing to process; this script stops it when every task has said it is restored.

The measured window runs from the first task's ``restoring N changelog records`` log line to
the last task's ``restored: N changelog records in S s`` line (the runtime's own INFO lines on
the ``strom.runtime`` logger); CPU is the process's user + system time in that window, and the
RSS growth is the resident memory at the end of it minus at its start.
"""

from __future__ import annotations

import logging
import os
import re
import time

from bench.stateful.mem import peak_rss_mib
from bench.stateful.strom_app import build
from bench.workloads.common import cpu_seconds, emit, emit_ready, load_config

RESTORING = re.compile(r"restoring (\d+) changelog records")
RESTORED = re.compile(r"restored: (\d+) changelog records in ([0-9.]+) s")
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """The resident memory of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Watch(logging.Handler):
    """Follows the runtime's restore log lines; calls ``on_done`` once ``tasks`` tasks are
    restored."""

    def __init__(self, tasks: int, on_done: object) -> None:
        super().__init__(logging.INFO)
        self.tasks = tasks
        self.on_done = on_done
        self.announced = 0
        self.restored = 0
        self.task_seconds: list[float] = []
        self.done_tasks = 0
        self.t0: float | None = None
        self.cpu0 = self.cpu1 = 0.0
        self.rss0 = self.rss1 = 0
        self.t1: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        m = RESTORING.search(msg)
        if m is not None:
            if self.t0 is None:
                self.t0, self.cpu0, self.rss0 = time.perf_counter(), cpu_seconds(), rss_bytes()
            self.announced += int(m.group(1))
            return
        m = RESTORED.search(msg)
        if m is not None:
            self.restored += int(m.group(1))
            self.task_seconds.append(float(m.group(2)))
            self.done_tasks += 1
            if self.done_tasks == self.tasks:
                self.t1, self.cpu1, self.rss1 = time.perf_counter(), cpu_seconds(), rss_bytes()
                self.on_done()  # type: ignore[operator]


def main() -> None:
    config = load_config()
    logger = logging.getLogger("strom.runtime")
    logger.setLevel(logging.INFO)
    app = build(config, None)
    watch = Watch(int(config["partitions"]), app.stop)
    logger.addHandler(watch)
    # The runtime's own lines, timestamped, in the run's log (stderr) for a reader.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logger.addHandler(logging.StreamHandler())
    logging.getLogger("strom").setLevel(logging.INFO)
    rss_start = rss_bytes()
    emit_ready()
    started = time.perf_counter()
    app.run()
    ended = time.perf_counter()
    if watch.t1 is None or watch.t0 is None:
        emit({"error": f"{watch.done_tasks} of {watch.tasks} tasks said they were restored"})
        return
    window = max(watch.t1 - watch.t0, 1e-9)
    emit(
        {
            "entries": watch.restored,
            "announced": watch.announced,
            "window_s": window,
            "entries_per_s": watch.restored / window,
            "task_s_max": max(watch.task_seconds),
            "cpu_s": watch.cpu1 - watch.cpu0,
            "rss_growth_bytes": watch.rss1 - watch.rss0,
            "rss_before_run_bytes": rss_start,
            "run_s": ended - started,
            "peak_rss_mib": peak_rss_mib(),
        }
    )


if __name__ == "__main__":
    main()
