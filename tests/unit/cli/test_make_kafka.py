"""`make kafka-down` says what it stopped; `make kafka-status` of a stopped broker is no error."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BROKER = REPO / "scripts" / "kafka" / "broker.py"


def broker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BROKER), *args], capture_output=True, text=True, timeout=60
    )


def test_down_names_what_it_stopped(tmp_path: Path) -> None:
    assert "no Kafka broker was running" in broker("down", "--dir", str(tmp_path)).stderr
    # A real process stands in for the broker: down stops whatever the pid file names. It is
    # reaped as soon as it ends (a zombie child would look alive to the script).
    sleeper = subprocess.Popen(["sleep", "60"])
    reaper = threading.Thread(target=sleeper.wait, daemon=True)
    reaper.start()
    try:
        (tmp_path / "broker.pid").write_text(str(sleeper.pid))
        (tmp_path / "bootstrap").write_text("127.0.0.1:40999")
        status = broker("status", "--dir", str(tmp_path))
        assert status.returncode == 0
        assert f"running pid={sleeper.pid} bootstrap=127.0.0.1:40999" in status.stdout
        stopped = broker("down", "--dir", str(tmp_path))
        assert stopped.returncode == 0
        assert f"stopped the Kafka broker at 127.0.0.1:40999 (pid {sleeper.pid}" in stopped.stderr
        reaper.join(timeout=30)
        assert sleeper.returncode == -15  # ended by SIGTERM
    finally:
        sleeper.kill()
    stopped_status = broker("status", "--dir", str(tmp_path))
    assert (stopped_status.returncode, stopped_status.stdout.strip()) == (1, "stopped")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_kafka_status_is_not_a_make_error() -> None:
    # Whether this checkout's broker runs or not, `make kafka-status` succeeds and says which.
    done = subprocess.run(
        ["make", "-s", "kafka-status"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(("running", "stopped"))
