"""Helpers of the log-throughput scripts: the payload and one phase's figures."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.workloads.common import cpu_seconds


def payload(size: int) -> bytes:
    """``size`` random (incompressible) bytes: the value of every record."""
    return os.urandom(size)


class Phase:
    """Times one phase (append or read) and its CPU."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.cpu0 = cpu_seconds()

    def figures(self, records: int, size: int) -> dict[str, Any]:
        """records/s, payload MB/s (10^6 bytes), CPU seconds, record count."""
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        return {
            "records": records,
            "elapsed_s": elapsed,
            "records_per_s": records / elapsed,
            "mb_per_s": records * size / elapsed / 1e6,
            "cpu_s": cpu_seconds() - self.cpu0,
        }
