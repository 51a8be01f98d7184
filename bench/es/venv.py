"""The ``eventsourcing`` library's venv for the event store benchmark, like bench/peers.py does
for the stream processing peers: created on first use under ``bench/.venvs/eventsourcing``,
pinned, rebuilt when the pin changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REQUIREMENT = "eventsourcing[postgres]==9.5.6"
ROOT = Path(__file__).resolve().parent.parent / ".venvs" / "eventsourcing"


def ensure_eventsourcing(log: Path) -> tuple[str, str]:
    """(python of the venv, eventsourcing version), installing it when needed."""
    python = ROOT / "bin" / "python"
    marker = ROOT / ".installed"
    if not (marker.exists() and marker.read_text().strip() == REQUIREMENT and python.exists()):
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"[bench.es] creating venv: {REQUIREMENT}", flush=True)
        with log.open("w") as out:
            for step in (
                [sys.executable, "-m", "venv", "--clear", str(ROOT)],
                [str(python), "-m", "pip", "install", "-q", REQUIREMENT],
            ):
                subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=1800)
        marker.write_text(REQUIREMENT)
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('eventsourcing'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    return str(python), version
