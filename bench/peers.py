"""The peers' virtualenvs: created on demand under ``bench/.venvs/<name>``, pinned versions.

Each peer lives in its own venv so that it brings its own dependencies (Quix Streams pins
confluent-kafka < 2.13, faust-streaming brings aiokafka) without constraining ours. A venv is
rebuilt when its requirement list changes. An install failure is recorded, not hidden: the
report shows the error.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"


@dataclass(frozen=True)
class Peer:
    """A peer framework and what its venv gets."""

    name: str
    requirements: tuple[str, ...]
    packages: tuple[str, ...]
    """Distributions whose versions the report shows."""


PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        # quixstreams pins confluent-kafka<2.13: it gets 2.12.x, not our 2.16.
        Peer("quix", ("quixstreams==3.28.1", "orjson==3.13.0"), ("quixstreams", "confluent-kafka")),
        # [fast] brings orjson (faust's JSON codec uses it when present), [uvloop] the faster
        # event loop: the configuration faust documents for speed.
        Peer(
            "faust",
            ("faust-streaming[fast,uvloop]==0.15.3", "orjson==3.13.0"),
            ("faust-streaming", "aiokafka", "uvloop"),
        ),
        Peer(
            "bytewax",
            ("bytewax[kafka]==0.21.1", "confluent-kafka==2.16.1", "orjson==3.13.0"),
            ("bytewax", "confluent-kafka"),
        ),
        # Not a peer: the sampling profiler used by ``python -m bench.profile``.
        Peer("tools", ("py-spy==0.4.3",), ("py-spy",)),
    )
}


@dataclass
class PeerEnv:
    """A ready venv, or why there is none."""

    name: str
    python: Path | None
    versions: dict[str, str]
    error: str = ""


def _digest(peer: Peer) -> str:
    return hashlib.sha256(json.dumps([sys.version, *peer.requirements]).encode()).hexdigest()[:16]


def _versions(python: Path, packages: tuple[str, ...]) -> dict[str, str]:
    code = (
        "import json, sys, importlib.metadata as m\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: out[p] = 'missing'\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(python), "-c", code, *packages], capture_output=True, text=True, timeout=60
    )
    return dict(json.loads(done.stdout)) if done.returncode == 0 else {}


def ensure(name: str, log: Path) -> PeerEnv:
    """The venv of peer ``name``, created (or rebuilt) if needed; install output goes to
    ``log``."""
    peer = PEERS[name]
    root = VENVS / name
    python = root / "bin" / "python"
    marker = root / ".installed"
    digest = _digest(peer)
    if marker.exists() and marker.read_text().strip() == digest and python.exists():
        return PeerEnv(name, python, _versions(python, peer.packages))
    shutil.rmtree(root, ignore_errors=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[bench] creating venv for {name}: {' '.join(peer.requirements)}", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(root)],
        [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "-q", *peer.requirements],
    ]
    with log.open("w") as out:
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=1800)
            if done.returncode != 0:
                tail = log.read_text(errors="replace").strip().splitlines()[-15:]
                return PeerEnv(
                    name, None, {}, f"`{' '.join(step[2:])}` failed:\n" + "\n".join(tail)
                )
    marker.write_text(digest)
    return PeerEnv(name, python, _versions(python, peer.packages))
