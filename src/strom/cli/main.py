"""The ``strom`` command group and its entry point.

Commands are click commands in sibling modules, registered below with ``cli.add_command``.
To add one, write ``strom/cli/NAME.py`` defining a click command (using
:func:`strom.cli.common.broker_option` and :func:`strom.cli.common.open_log` when it needs the
log), then add it to ``COMMANDS`` here, or to ``LAZY_COMMANDS`` when its module needs
libraries the other commands do not (it is imported only when used).

Example:
    >>> from click.testing import CliRunner
    >>> result = CliRunner().invoke(cli, ["--help"])
    >>> result.exit_code, "topics" in result.output
    (0, True)
"""

from __future__ import annotations

import os
import sys

import click

import strom
from strom.cli.common import StromGroup, root_broker_option, root_logging_options, setup_logging
from strom.cli.consume import consume
from strom.cli.dlq import dlq
from strom.cli.lag import lag
from strom.cli.produce import produce
from strom.cli.run import run
from strom.cli.topics import topics


@click.group(cls=StromGroup, context_settings={"help_option_names": ["-h", "--help"]})
@root_broker_option
@root_logging_options
@click.version_option(strom.__version__, prog_name="strom")
def cli(log_level: str | None, log_format: str | None) -> None:
    """strom: event streaming over Kafka or an embedded log.

    Every command takes --broker (or $STROM_BROKER) and works the same on kafka:// and
    local:// logs. Log lines go to stderr: --log-format json for log shippers.
    """
    setup_logging(log_level, log_format)


COMMANDS: list[click.Command] = [topics, produce, consume, lag, dlq, run]

LAZY_COMMANDS: dict[str, str] = {
    "es": "strom.cli.es:es",  # msgspec, the event store's libraries
    "cdc": "strom.cli.cdc:cdc",  # the databases' replication clients
}

for _command in COMMANDS:
    cli.add_command(_command)
assert isinstance(cli, StromGroup)
cli.lazy_commands.update(LAZY_COMMANDS)


def main() -> None:
    """Entry point of the ``strom`` executable."""
    try:
        cli.main(prog_name="strom")
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly, and keep Python from complaining
        # about the unflushable stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
