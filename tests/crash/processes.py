"""Application processes under test: started, killed, stopped, continued; their logs kept.

strom runs as ``strom run tests.crash.apps.strom_app:app`` in this interpreter; a peer runs
``python -m tests.crash.apps.<peer>_app`` in its own virtualenv (``bench/.venvs/<peer>``,
see :mod:`bench.peers`). Every process gets the same environment (``CRASH_*``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.crash.phases import PhaseReader

REPO = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("strom", "quix", "faust")


def command(framework: str, python: str | None = None) -> list[str]:
    """The command line of one application process of ``framework``."""
    if framework == "strom":
        return [
            sys.executable,
            "-m",
            "strom.cli.main",
            "run",
            "tests.crash.apps.strom_app:app",
            "--log-level",
            "INFO",
        ]
    if framework in FRAMEWORKS:
        if python is None:
            raise ValueError(f"{framework} runs in its own virtualenv: give its python")
        return [python, "-m", f"tests.crash.apps.{framework}_app"]
    raise ValueError(f"unknown framework {framework!r}; use one of {FRAMEWORKS}")


class Instance:
    """One application process."""

    def __init__(
        self, number: int, argv: list[str], env: dict[str, str], workdir: Path, member: str
    ) -> None:
        self.number = number
        self.member = member
        self.log_path = workdir / f"instance-{number}.log"
        self.phase_path = workdir / f"instance-{number}.phase"
        full = {
            **os.environ,
            **env,
            "PYTHONUNBUFFERED": "1",
            "CRASH_PHASE_FILE": str(self.phase_path),
        }
        full.pop("STROM_BROKER", None)
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=REPO,
                env=full,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started = time.monotonic()
        self._phases = PhaseReader(self.phase_path)
        self.killed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def phase(self) -> str:
        return self._phases.read()

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def kill(self) -> str:
        """SIGKILL; returns the phase the process died in."""
        self.killed = True
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        # Nothing written yet: it died before the app module was imported.
        phase = self._phases.read() or "start"
        self._phases.close()
        return phase

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL when it does not exit in time); the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait(30)
        self._phases.close()
        return code

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])
