"""Application processes for the process tests: ``strom run`` of ``proc_app`` started,
signalled and cleaned up, and an output topic followed from the beginning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import strom
import strom.log
from strom.log import TopicPartition
from tests.conftest import REPO, unique
from tests.integration.runtime.support import create, produce

APP = "tests.integration.runtime.proc_app:app"


class Outputs:
    """Follows an output topic from the beginning, collecting decoded values."""

    def __init__(self, log: strom.log.Log, topic: str, partitions: int) -> None:
        self._consumer = log.consumer()
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        self._consumer.assign(tps)
        for tp in tps:
            self._consumer.seek(tp, strom.log.OFFSET_BEGINNING)
        self._json = strom.serde.json()
        self.values: list[dict[str, Any]] = []

    def poll(self) -> None:
        for record in self._consumer.poll(1000, 0.1):
            self.values.append(self._json.deserialize(record.value))

    def wait(self, done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; have {len(self.values)}")
            self.poll()

    @property
    def distinct(self) -> set[int]:
        return {v["n"] for v in self.values}

    def close(self) -> None:
        self._consumer.close()


class Processes:
    """Starts ``strom run`` processes and makes sure none outlives the test."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self._tmp = tmp
        self._env = env
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, app: str = APP, **overrides: str) -> subprocess.Popen[bytes]:
        """``strom run app`` with this group's environment plus ``overrides``."""
        n = len(self.started)
        env = {**os.environ, **self._env, **overrides, "PYTHONUNBUFFERED": "1"}
        env.pop("STROM_BROKER", None)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "strom.cli.main",
                "run",
                app,
                "--log-level",
                os.environ.get("STROM_T_LOG_LEVEL", "INFO"),
            ],
            cwd=REPO,
            env=env,
            stdout=(self._tmp / f"proc-{n}.out").open("wb"),
            stderr=(self._tmp / f"proc-{n}.err").open("wb"),
        )
        self.started.append(proc)
        return proc

    def stderr(self, proc: subprocess.Popen[bytes]) -> str:
        return (self._tmp / f"proc-{self.started.index(proc)}.err").read_text()

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def setup(
    log: strom.log.Log, broker: str, n: int, partitions: int, **env: str
) -> tuple[dict[str, str], str]:
    app, inp, out = unique("proc"), unique("in"), unique("out")
    create(log, inp, partitions)
    create(log, out, partitions)
    topic = strom.App("producer", broker=broker).topic(inp)
    produce(log, topic, [(f"k{i}", {"n": i}) for i in range(n)])
    return {
        "STROM_T_APP": app,
        "STROM_T_BROKER": broker,
        "STROM_T_IN": inp,
        "STROM_T_OUT": out,
        **env,
    }, out


@contextmanager
def connected(url: str) -> Iterator[strom.log.Log]:
    log = strom.log.connect(url)
    try:
        yield log
    finally:
        log.close()


def committed(log: strom.log.Log, group: str) -> dict[TopicPartition, int]:
    admin = log.admin()
    try:
        return admin.group_offsets(group)
    finally:
        admin.close()


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout)
