"""Run the ``strom`` command in-process (click's CliRunner) against a fresh embedded log."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from click.testing import CliRunner, Result

from strom.cli.main import cli
from strom.log import connect

Strom = Callable[..., Result]


@pytest.fixture
def strom(local_url: str) -> Strom:
    """``strom(*args, input=...)``: run a command with ``--broker`` set to a fresh local log."""
    connect(local_url).close()  # read-only commands need an existing log
    runner = CliRunner(env={"STROM_BROKER": None, "COLUMNS": "200"})

    def run(
        *args: str, input: str | bytes | None = None, broker: Sequence[str] | None = None
    ) -> Result:
        prefix = list(broker) if broker is not None else ["--broker", local_url]
        return runner.invoke(cli, [*prefix, *args], input=input, catch_exceptions=False)

    return run
