"""Running worker processes (see workers.py) and reading their output, with bounded waits."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from strom.log import Record, TopicPartition
from strom.log.local import LocalLog

REPO = Path(__file__).resolve().parents[3]


class Worker:
    """A child process running one role of workers.py; its output lines are collected."""

    def __init__(self, role: str, *args: object) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.local.workers", role, *map(str, args)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 30) -> None:
        """Wait until ``predicate(lines)`` holds; fail with the child's stderr otherwise."""
        deadline = time.monotonic() + timeout
        while not predicate(list(self.lines)):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                time.sleep(0.1)
                if predicate(list(self.lines)):
                    return
                raise AssertionError(
                    f"worker did not get there (exit {self.proc.poll()}): {self.lines[-5:]}\n"
                    + self.stderr()
                )
            time.sleep(0.01)

    def finish(self, timeout: float = 60) -> list[str]:
        """Wait for a normal exit; returns the output lines."""
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._reader.join(5)
        assert code == 0, f"worker exited with {code}:\n{self.stderr()}"
        return self.lines

    def kill(self) -> None:
        """SIGKILL and reap."""
        self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()


def read_partition(
    path: Path, topic: str, partition: int, options: dict[str, str] | None = None
) -> list[Record]:
    """Every record of one partition, read in this process from a fresh LocalLog."""
    log = LocalLog(path, {"fsync": "none", **(options or {})})
    try:
        consumer = log.consumer()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        high = consumer.watermarks(tp)[1]
        out: list[Record] = []
        for _ in range(2000):
            position = consumer.position(tp)
            if position is not None and position >= high:
                break
            out.extend(consumer.poll(max_records=10_000, timeout=0.05))
        return out
    finally:
        log.close()
