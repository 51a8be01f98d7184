"""Fixtures of the runtime tests: the log to run on (every test runs on both logs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import strom.log


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
