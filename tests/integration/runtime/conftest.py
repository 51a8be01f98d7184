"""Fixtures of the runtime tests: the log to run on (every test runs on both logs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import strom.log
from tests.integration.runtime.processes import Processes


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def broker(request: pytest.FixtureRequest) -> str:
    """The log URL to run on."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def log(broker: str) -> Iterator[strom.log.Log]:
    """An open connection to :func:`broker`."""
    connection = strom.log.connect(broker)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Callable[..., Processes]]:
    made: list[Processes] = []

    def make(**env: str) -> Processes:
        p = Processes(tmp_path, env)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop_all()
