"""What every strom command shares: the ``--broker`` option, opening the log, logging set-up,
error display, tables and counts.

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

import importlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

import strom.log
from strom.errors import StromError
from strom.log.url import DEFAULT_URL_ENV, choose_url, parse_url
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
    f"Default: ${DEFAULT_URL_ENV}, else (strom run) the app's broker=, else "
    "local://$STROM_HOME, else local://./.strom."
)

_WIDE = 10_000
"""Width of output that is not a terminal: lines are never wrapped for a pipe or a file."""

_EXTRAS = {"msgspec": "msgspec", "fastavro": "avro", "avro": "avro"}
"""Extras of strom that install a package a command may need."""

_KAFKA_LOGGERS = "strom.log.kafka"
_LIBRDKAFKA_LOGGER = "strom.log.kafka.librdkafka"


class CommandError(click.ClickException):
    """A failure to report as one red line on stderr, with exit code 1 (no traceback)."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``Error: message`` in red (plain text when stderr is not a terminal)."""
        console = stderr_console() if file is None else Console(file=file, soft_wrap=True)
        console.print(Text(f"Error: {self.format_message()}", style="bold red"))


class StromGroup(click.Group):
    """A click group that turns every :class:`~strom.errors.StromError` into a CommandError,
    and imports the commands of :attr:`lazy_commands` when they are used (so ``strom`` runs
    without the libraries of command groups that are not used, and starts faster)."""

    lazy_commands: dict[str, str]
    """Command name to ``module:attribute`` of its click command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = {}
        self._listing = False

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``: a lazy command that cannot be imported is left out
        (using it says what to install)."""
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The eager commands and the lazy ones, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, imported now if it is lazy."""
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        try:
            command = getattr(importlib.import_module(module), attribute)
        except ImportError as exc:
            if self._listing:
                return None
            missing = exc.name or str(exc)
            extra = _EXTRAS.get(missing.split(".")[0])
            hint = f"pip install 'strom[{extra}]'" if extra else f"install {missing!r}"
            raise CommandError(
                f"`strom {cmd_name}` needs {missing!r}, which is not installed: {hint}"
            ) from exc
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a StromError becomes a one-line message and exit code 1."""
        try:
            return super().invoke(ctx)
        except StromError as exc:
            raise CommandError(str(exc)) from exc


def _remember_broker(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    # Stored in ctx.meta (shared by the whole command chain) so the innermost --broker wins.
    # Only a --broker given on the command line is kept: $STROM_BROKER is read by
    # strom.log.choose_url, the one rule of the CLI and the API.
    source = ctx.get_parameter_source(param.name) if param.name else None
    if value and source is not ParameterSource.ENVIRONMENT:
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


class _KafkaDetails(logging.Filter):
    """Kafka client details, at DEBUG: librdkafka's own lines, and (but for ``strom run``)
    strom's warnings about errors librdkafka retries. A command reports a failure once, as
    the error strom raises: an unreachable broker would otherwise print the same lines once
    per connection attempt before it."""

    def __init__(self, client_warnings: bool) -> None:
        super().__init__()
        self._client_warnings = client_warnings

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if not name.startswith(_KAFKA_LOGGERS):
            return True
        if not name.startswith(_LIBRDKAFKA_LOGGER) and (
            self._client_warnings or record.levelno >= logging.ERROR
        ):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger("strom").isEnabledFor(logging.DEBUG)


def setup_logging(
    level: str | None = None,
    fmt: str | None = None,
    *,
    default_level: str = "WARNING",
    kafka_warnings: bool = False,
) -> None:
    """Configure strom's logging (:func:`strom.ops.logging.configure`) for this command.

    ``level`` and ``fmt`` given to a subcommand win over the root group's ``--log-level`` and
    ``--log-format`` (the choices given are remembered in the context for subcommands);
    when none is given, ``default_level`` and text. librdkafka's own lines show at DEBUG,
    and so do warnings about Kafka errors librdkafka retries, unless ``kafka_warnings`` (for
    a running application, whose operator wants to see them).
    """
    ctx = click.get_current_context()
    if level:
        ctx.meta[_LOG_LEVEL_KEY] = level
    if fmt:
        ctx.meta[_LOG_FORMAT_KEY] = fmt
    handler = configure(
        level=str(ctx.meta.get(_LOG_LEVEL_KEY) or default_level),
        fmt="json" if ctx.meta.get(_LOG_FORMAT_KEY) == "json" else "text",
    )
    handler.addFilter(_KafkaDetails(kafka_warnings))


def json_option(func: F) -> F:
    """Add ``--json``: print machine-readable JSON instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON, not a table.")(func)


def explicit_broker() -> str | None:
    """The URL given with ``--broker`` on the command line, if any."""
    value = click.get_current_context().meta.get(_BROKER_KEY)
    return str(value) if value else None


def broker_url() -> str:
    """The log URL: ``--broker``, else ``$STROM_BROKER``, else the default
    (:func:`strom.log.choose_url`)."""
    return choose_url(explicit_broker())[0]


@contextmanager
def open_log(*, create: bool = False) -> Iterator[strom.log.Log]:
    """The log named by :func:`broker_url`, closed on exit.

    Only commands that write (``create=True``: ``topics create``, ``run``) may create an
    embedded log; the others fail on a ``local://`` path that holds none, so a mistyped path
    is reported instead of silently becoming a new, empty log.
    """
    url, source = choose_url(explicit_broker())
    if not create:
        require_existing_log(url, source)
    log = strom.log.connect(url)
    try:
        yield log
    finally:
        log.close()


def require_existing_log(url: str, source: str = "--broker") -> None:
    """Raise CommandError when ``url`` is a ``local://`` path with no embedded log in it;
    ``source`` says where the URL came from (``--broker``, ``$STROM_BROKER``, ``default``).

    Example:
        >>> require_existing_log("local:///nonexistent/dir")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        strom.cli.common.CommandError: no embedded log at /nonexistent/dir ...
    """
    parsed = parse_url(url)
    if parsed.scheme != "local":
        return
    path = Path(parsed.location).expanduser()
    # Every embedded log has its topics directory from the moment it is opened.
    if (path / "topics").is_dir():
        return
    if not path.exists():
        state = "does not exist"
    elif not path.is_dir():
        state = "is not a directory"
    else:
        state = "holds no embedded log"
    raise CommandError(
        f"no embedded log at {path} ({url}, from {source}): the path {state}. Check the path "
        f"(--broker or ${DEFAULT_URL_ENV}); `strom topics create` or an application creates one"
    )


def _console(stderr: bool) -> Console:
    console = Console(stderr=stderr, highlight=False, emoji=False, markup=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = _WIDE
    return console


def stdout_console() -> Console:
    """A rich console on stdout (no markup or emoji in data); lines are not wrapped."""
    return _console(stderr=False)


def stderr_console() -> Console:
    """A rich console on stderr for messages; lines are not wrapped."""
    return _console(stderr=True)


def print_table(table: Table, console: Console | None = None) -> None:
    """Print ``table``: boxed on a terminal; else one line per row, columns aligned with
    spaces and no box, so ``grep``, ``awk`` and ``sort`` see one record a line."""
    console = console or stdout_console()
    if not console.is_terminal:
        table.box = None
        table.show_edge = False
        table.pad_edge = False
        table.header_style = ""
        table.title_style = ""
    console.print(table)


def count(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun``, in the plural unless it is one.

    Example:
        >>> count(1, "record"), count(3, "partition"), count(0, "entry", "entries")
        ('1 record', '3 partitions', '0 entries')
    """
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


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


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: handled like ctrl-C by the commands that stream records."""


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt), so
    ``produce`` and ``consume`` end the same way on ``kill`` as on ctrl-C: flush, commit,
    report what was done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def record_progress(what: str, *, show: bool = True) -> Iterator[Callable[[int], None]]:
    """A live "N records WHAT" count on stderr when it is a terminal (and ``show``); a no-op
    otherwise (pipes, files, tests). Yields the function to call with the running count."""
    console = stderr_console()
    if not show or not console.is_terminal:
        yield lambda _count: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.completed} records {task.description}"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(what, total=None)
        yield lambda done: progress.update(task, completed=done)
