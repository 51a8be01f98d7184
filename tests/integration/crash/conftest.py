"""Fixtures of the crash tests: a Kafka broker of the test's own (it gets restarted), and how
many kills a case gets (``STROM_CRASH_KILLS``, default 10: ``make crash-quick``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BROKER_SCRIPT


@pytest.fixture
def kills() -> int:
    """Kills per case."""
    return int(os.environ.get("STROM_CRASH_KILLS", "10"))


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Kafka broker of this test alone (it gets stopped and started): (url, run dir)."""
    run = tmp_path / "broker"
    up = subprocess.run(
        [sys.executable, str(BROKER_SCRIPT), "up", "--dir", str(run)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    try:
        yield f"kafka://{up.stdout.strip().splitlines()[-1]}", run
    finally:
        subprocess.run(
            [sys.executable, str(BROKER_SCRIPT), "down", "--dir", str(run)],
            timeout=60,
            check=False,
        )
