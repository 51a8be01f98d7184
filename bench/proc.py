"""Running one implementation script in its own process and collecting what it reports.

Each run is a fresh process, so imports, JIT-less warm-up and memory do not leak from one
implementation into the next. ``os.wait4`` gives the child's own resource usage (CPU of the
whole process including start-up, peak RSS), next to the window figures the child prints.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.workloads.common import READY_PREFIX, RESULT_PREFIX

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ChildRun:
    """A finished (or killed) implementation process."""

    returncode: int
    result: dict[str, Any] | None
    wall_s: float
    cpu_total_s: float
    max_rss_mib: float
    stdout: Path
    stderr: Path
    timed_out: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def error_tail(self, lines: int = 12) -> str:
        """The last lines of stderr, for the report."""
        text = self.stderr.read_text(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])


class Child:
    """An implementation script started with its configuration.

    Args:
        python: interpreter (the project's or a peer venv's).
        module: the script's module path.
        config: JSON-serializable configuration, passed as ``argv[1]``.
        logs: directory for stdout/stderr files; ``name`` names them.
        wrap: a command prefix (e.g. a profiler) run in front of the interpreter.
    """

    def __init__(
        self,
        python: Path | str,
        module: str,
        config: dict[str, Any],
        logs: Path,
        name: str,
        wrap: list[str] | None = None,
    ) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout_path = logs / f"{name}.out"
        self.stderr_path = logs / f"{name}.err"
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [*(wrap or []), str(python), "-m", module, json.dumps(config)]
        self.started = time.monotonic()
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
        self._finished: ChildRun | None = None

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    def ready(self) -> bool:
        """True once the script printed its ready line."""
        try:
            return READY_PREFIX in self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return False

    def running(self) -> bool:
        """True while the child has not been reaped."""
        return self._finished is None and self._poll() is None

    def _poll(self) -> ChildRun | None:
        if self._finished is not None:
            return self._finished
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return None
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._finished = ChildRun(
            returncode=self.proc.returncode,
            result=_parse_result(self.stdout_path),
            wall_s=time.monotonic() - self.started,
            cpu_total_s=usage.ru_utime + usage.ru_stime,
            max_rss_mib=usage.ru_maxrss / 1024.0,
            stdout=self.stdout_path,
            stderr=self.stderr_path,
        )
        return self._finished

    def wait(self, timeout: float, sig: int = signal.SIGTERM) -> ChildRun:
        """Wait for the child; past ``timeout`` it is stopped (``sig``, then SIGKILL) and the
        run is marked ``timed_out``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self._poll()
            if done is not None:
                return done
            time.sleep(0.05)
        run = self.stop(grace=15.0, sig=sig)
        run.timed_out = True
        return run

    def stop(self, grace: float = 15.0, sig: int = signal.SIGTERM) -> ChildRun:
        """Ask the child to stop with ``sig``; SIGKILL after ``grace`` seconds."""
        if self._poll() is None:
            self.proc.send_signal(sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and self._poll() is None:
                time.sleep(0.05)
            if self._poll() is None:
                self.proc.kill()
                while self._poll() is None:
                    time.sleep(0.05)
        done = self._poll()
        assert done is not None
        return done


def _parse_result(path: Path) -> dict[str, Any] | None:
    result = None
    for line in path.read_text(errors="replace").splitlines():
        # Some frameworks write terminal escapes on stdout at exit: find the prefix anywhere.
        at = line.find(RESULT_PREFIX)
        if at >= 0:
            result = json.loads(line[at + len(RESULT_PREFIX) :])
    return result
