"""The machine and the versions a run used, for the report."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> float:
    try:
        match = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        return int(match.group(1)) / 1024 / 1024 if match else 0.0
    except OSError:
        return 0.0


def load_average() -> tuple[float, float, float]:
    """1, 5 and 15 minute load averages."""
    return os.getloadavg()


def machine() -> dict[str, Any]:
    """CPU, cores, memory, OS."""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(_mem_gib(), 1),
        "kernel": platform.release(),
        "os": platform.platform(),
    }


def _dist(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _git_rev() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    return done.stdout.strip() or "unknown"


def _kafka_version() -> str:
    pom = REPO / "scripts" / "kafka" / "pom.xml"
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom.read_text())
    return match.group(1) if match else "unknown"


def versions() -> dict[str, str]:
    """Versions in the project's venv (the raw loop, strom, the runner)."""
    import confluent_kafka

    return {
        "python": sys.version.split()[0],
        "strom": f"{_dist('strom')} (git {_git_rev()})",
        "confluent-kafka": _dist("confluent-kafka"),
        "librdkafka": confluent_kafka.libversion()[0],
        "orjson": _dist("orjson"),
        "Apache Kafka": _kafka_version(),
    }
