"""A Kafka broker of a test's (or a crash run's) own, through ``scripts/kafka/broker.py``:
the tests that stop and restart a broker must not share the session's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BROKER_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "kafka" / "broker.py"


def broker(command: str, run: Path, timeout: float = 300) -> str:
    """``broker.py COMMAND --dir RUN`` (up, start, down); the last line it printed (the
    bootstrap address for up and start). Raises RuntimeError naming what failed."""
    done = subprocess.run(
        [sys.executable, str(BROKER_SCRIPT), command, "--dir", str(run)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"broker.py {command} failed:\n{done.stdout}\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


@contextmanager
def own_broker(run: Path) -> Iterator[str]:
    """A broker set up in ``run`` for the block (its bootstrap address), stopped after it."""
    bootstrap = broker("up", run, timeout=600)
    try:
        yield bootstrap
    finally:
        subprocess.run(
            [sys.executable, str(BROKER_SCRIPT), "down", "--dir", str(run)],
            timeout=120,
            check=False,
        )
