"""What an application process is doing, written where the harness can read it after a kill.

The app writes its current phase into a small file with ``pwrite`` (the bytes are in the
page cache when the call returns, so a SIGKILL right after cannot lose them); the harness
reads the file after the kill to know the phase the process died in, and watches it to kill
*during* a commit or a restore. Standard library only (peers' apps could use it too).

Phases: ``start`` (importing, connecting, joining the group), ``restore`` (state stores
being rebuilt from changelogs), ``process`` (polling and processing records), ``commit``
(inside the checkpoint: the transaction with the outputs and input offsets being committed),
``stop`` (a graceful shutdown).
"""

from __future__ import annotations

import os
from pathlib import Path

PHASES = ("start", "restore", "process", "commit", "stop")
_WIDTH = 8


class PhaseWriter:
    """The app's side: :meth:`set` costs one ``pwrite`` and only when the phase changes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.phase = ""
        self.set("start")

    def set(self, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            os.pwrite(self._fd, phase.encode().ljust(_WIDTH), 0)


def read_phase(path: str | os.PathLike[str]) -> str:
    """The last phase written to ``path`` ("" when none)."""
    try:
        with Path(path).open("rb") as f:
            return f.read(_WIDTH).decode(errors="replace").strip()
    except FileNotFoundError:
        return ""


class PhaseReader:
    """The harness's side: a file descriptor kept open for frequent reads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._fd: int | None = None

    def read(self) -> str:
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDONLY)
            except FileNotFoundError:
                return ""
        return os.pread(self._fd, _WIDTH, 0).decode(errors="replace").strip()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
