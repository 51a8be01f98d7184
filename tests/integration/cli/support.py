"""Running the installed ``strom`` executable as a user would, on either log."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

STROM = Path(sys.executable).with_name("strom")
WAIT = 60.0
"""Upper bound of every wait: far above what a healthy run needs, never a threshold."""


@dataclass(frozen=True)
class Run:
    """A finished ``strom`` process: exit code and its output as text."""

    code: int
    out: str
    err: str

    def ok(self) -> Run:
        assert self.code == 0, f"exit {self.code}\n{self.out}\n{self.err}"
        return self


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without $STROM_BROKER, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("STROM_BROKER", "STROM_HOME")}
    env.update(extra or {})
    return env


def strom(
    *args: str,
    broker: str | None = None,
    input: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Run:
    """Run ``strom [--broker URL] ARGS`` to completion, bounded in time."""
    prefix = ["--broker", broker] if broker else []
    data = input.encode() if isinstance(input, str) else input
    done = subprocess.run(
        [str(STROM), *prefix, *args],
        input=data,
        capture_output=True,
        timeout=WAIT * 2,
        check=False,
        env=environment(env),
        cwd=cwd,
    )
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


def start(
    *args: str,
    broker: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: int | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start ``strom [--broker URL] ARGS`` in the background (stop it with :func:`finish`)."""
    prefix = ["--broker", broker] if broker else []
    return subprocess.Popen(
        [str(STROM), *prefix, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(env),
        cwd=cwd,
    )


def finish(proc: subprocess.Popen[bytes]) -> Run:
    """Wait for a started process (killed if it outlives :data:`WAIT`) and collect it."""
    try:
        out, err = proc.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"strom did not end within {WAIT} s:\n{err.decode()}") from None
    return Run(proc.returncode, out.decode(), err.decode())


def wait_for(what: str, check: Callable[[], bool]) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after :data:`WAIT` seconds."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def read_line(proc: subprocess.Popen[bytes]) -> bytes:
    """The next line ``proc`` prints on stdout, waiting at most :data:`WAIT` seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    line = b""
    deadline = time.monotonic() + WAIT
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            proc.kill()
            raise AssertionError(f"no line from strom within {WAIT} s: {finish(proc)}")
        byte = os.read(fd, 1)
        if not byte:
            raise AssertionError(f"strom ended before printing a line: {finish(proc)}")
        line += byte
    return line
