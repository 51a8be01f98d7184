"""Running worker processes (see workers.py) and reading their output, with bounded waits."""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import subprocess
import sys
import tempfile
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


PAGE = 4096
_KPF_DIRTY = 1 << 4
_KPF_WRITEBACK = 1 << 8


def unsynced_pages(path: Path) -> list[int]:
    """Indexes of the pages of ``path`` that are in the page cache but not yet on disk
    (dirty or being written back), as the kernel reports them (/proc/kpageflags, root only).
    """
    size = path.stat().st_size
    if size == 0:
        return []
    fd = os.open(path, os.O_RDWR)
    try:
        mapping = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    anchor = ctypes.c_char.from_buffer(mapping)
    try:
        address = ctypes.addressof(anchor)
        out = []
        with open("/proc/self/pagemap", "rb") as pagemap, open("/proc/kpageflags", "rb") as kpf:
            for page in range((size + PAGE - 1) // PAGE):
                _ = mapping[page * PAGE]  # map it in (reading never dirties it)
                pagemap.seek((address // PAGE + page) * 8)
                (entry,) = struct.unpack("<Q", pagemap.read(8))
                pfn = entry & ((1 << 55) - 1)
                if not entry >> 63 or not pfn:
                    raise OSError("the page frame numbers are hidden (not root?)")
                kpf.seek(pfn * 8)
                (flags,) = struct.unpack("<Q", kpf.read(8))
                if flags & (_KPF_DIRTY | _KPF_WRITEBACK):
                    out.append(page)
        return out
    finally:
        del anchor
        mapping.close()


def can_see_page_flags() -> bool:
    """True when :func:`unsynced_pages` works here (root with /proc/kpageflags)."""
    probe = Path(tempfile.mkdtemp()) / "probe"
    try:
        probe.write_bytes(b"x" * PAGE)
        return unsynced_pages(probe) == [0]
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)
        probe.parent.rmdir()


def simulate_machine_crash(root: Path) -> dict[str, int]:
    """What a power cut does to the files under ``root`` (their writers must be dead): every
    file loses what the kernel had not written to disk yet, from its first unsynced page on
    (cut there, as an append-only file may be after a crash). Returns file -> bytes lost."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    unsynced = {path: unsynced_pages(path) for path in files}  # all seen before any cut
    lost = {}
    for path, pages in unsynced.items():
        if pages:
            size = path.stat().st_size
            os.truncate(path, pages[0] * PAGE)
            lost[str(path.relative_to(root))] = size - pages[0] * PAGE
    return lost
