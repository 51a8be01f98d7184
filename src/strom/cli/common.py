"""What every strom command shares: the ``--broker`` option, opening the log, logging set-up,
error display.

Example:
    A command module defines a click command and uses these helpers::

        @click.command()
        @broker_option
        def hello() -> None:
            with open_log() as log:
                admin = log.admin()
                ...

    and ``strom.cli.main`` registers it with ``cli.add_command(hello)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

import strom.log
from strom.errors import StromError
from strom.log.url import DEFAULT_URL_ENV
from strom.ops.logging import configure

F = TypeVar("F", bound=Callable[..., Any])

_BROKER_KEY = "strom.broker"
_LOG_LEVEL_KEY = "strom.log_level"
_LOG_FORMAT_KEY = "strom.log_format"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL_ENV = "STROM_LOG_LEVEL"
LOG_FORMAT_ENV = "STROM_LOG_FORMAT"

BROKER_HELP = (
    "Log URL: kafka://HOST:PORT[,HOST:PORT] or local://PATH. "
    f"Default: ${DEFAULT_URL_ENV}, else local://$STROM_HOME, else local://./.strom."
)


class CommandError(click.ClickException):
    """A failure to report as one red line on stderr, with exit code 1 (no traceback)."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``Error: message`` in red (plain text when stderr is not a terminal)."""
        console = stderr_console() if file is None else Console(file=file, soft_wrap=True)
        console.print(Text(f"Error: {self.format_message()}", style="bold red"))


class StromGroup(click.Group):
    """A click group that turns every :class:`~strom.errors.StromError` into a CommandError."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a StromError becomes a one-line message and exit code 1."""
        try:
            return super().invoke(ctx)
        except StromError as exc:
            raise CommandError(str(exc)) from exc


def _remember_broker(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # Stored in ctx.meta (shared by the whole command chain) so the innermost --broker wins.
    if value:
        ctx.meta[_BROKER_KEY] = value


def broker_option(func: F) -> F:
    """Add ``--broker URL`` to a command (the group's ``--broker``/$STROM_BROKER otherwise)."""
    option = click.option(
        "--broker",
        "-b",
        metavar="URL",
        expose_value=False,
        callback=_remember_broker,
        help=BROKER_HELP,
    )
    return option(func)


def root_broker_option(func: F) -> F:
    """Add ``--broker URL`` to the root group, read from ``$STROM_BROKER`` when not given.

    Only the root reads the environment variable, so ``strom --broker X topics list`` is not
    overridden by the environment in the subcommand.
    """
    option = click.option(
        "--broker",
        "-b",
        metavar="URL",
        envvar=DEFAULT_URL_ENV,
        show_envvar=True,
        expose_value=False,
        callback=_remember_broker,
        help=BROKER_HELP,
    )
    return option(func)


def root_logging_options(func: F) -> F:
    """Add ``--log-level`` and ``--log-format`` to the root group ($STROM_LOG_LEVEL,
    $STROM_LOG_FORMAT); the group's callback passes them to :func:`setup_logging`."""
    level = click.option(
        "--log-level",
        type=click.Choice(LOG_LEVELS, case_sensitive=False),
        envvar=LOG_LEVEL_ENV,
        show_envvar=True,
        default=None,
        help="Lowest level of log lines on stderr. Default: INFO for 'run', else WARNING.",
    )
    fmt = click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        envvar=LOG_FORMAT_ENV,
        show_envvar=True,
        default=None,
        help="Log lines as text (default) or as one JSON object per line.",
    )
    return level(fmt(func))


def setup_logging(
    level: str | None = None, fmt: str | None = None, *, default_level: str = "WARNING"
) -> None:
    """Configure strom's logging (:func:`strom.ops.logging.configure`) for this command.

    ``level`` and ``fmt`` given to a subcommand win over the root group's ``--log-level`` and
    ``--log-format`` (the choices given are remembered in the context for subcommands);
    when none is given, ``default_level`` and text.
    """
    ctx = click.get_current_context()
    if level:
        ctx.meta[_LOG_LEVEL_KEY] = level
    if fmt:
        ctx.meta[_LOG_FORMAT_KEY] = fmt
    configure(
        level=str(ctx.meta.get(_LOG_LEVEL_KEY) or default_level),
        fmt="json" if ctx.meta.get(_LOG_FORMAT_KEY) == "json" else "text",
    )


def json_option(func: F) -> F:
    """Add ``--json``: print machine-readable JSON instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON, not a table.")(func)


def broker_url() -> str:
    """The log URL chosen by ``--broker`` options, ``$STROM_BROKER`` or the default."""
    ctx = click.get_current_context()
    return str(ctx.meta.get(_BROKER_KEY) or strom.log.default_url())


@contextmanager
def open_log() -> Iterator[strom.log.Log]:
    """The log named by :func:`broker_url`, closed on exit."""
    log = strom.log.connect(broker_url())
    try:
        yield log
    finally:
        log.close()


def stdout_console() -> Console:
    """A rich console on stdout (no markup or emoji in data)."""
    return Console(highlight=False, emoji=False, markup=False, soft_wrap=False)


def stderr_console() -> Console:
    """A rich console on stderr for messages; long lines are not wrapped."""
    return Console(stderr=True, highlight=False, emoji=False, markup=False, soft_wrap=True)


def parse_pairs(values: Sequence[str], option: str) -> list[tuple[str, str]]:
    """Split ``k=v`` option values; a value without ``=`` is a usage error naming it.

    Example:
        >>> parse_pairs(["retention.ms=1000", "a=b=c"], "--config")
        [('retention.ms', '1000'), ('a', 'b=c')]
    """
    pairs: list[tuple[str, str]] = []
    for raw in values:
        name, sep, value = raw.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{raw!r} is not NAME=VALUE", param_hint=option)
        pairs.append((name, value))
    return pairs
