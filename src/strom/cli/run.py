"""``strom run module:app``: run an application until SIGTERM / SIGINT.

Example:
    >>> from click.testing import CliRunner
    >>> result = CliRunner().invoke(run, ["--help"])
    >>> result.exit_code, "MODULE:APP" in result.output
    (0, True)
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import click

from strom.app import App
from strom.cli.common import (
    LOG_LEVELS,
    CommandError,
    broker_option,
    explicit_broker,
    setup_logging,
)
from strom.errors import SerializationError


def load_app(target: str) -> App:
    """The :class:`~strom.App` named by ``module:attribute`` (or ``path/to/file.py:attribute``;
    the attribute defaults to ``app``). The current directory is importable.

    Raises:
        click.ClickException: the module or attribute is missing, or is not an App.
    """
    module_name, _, attribute = target.partition(":")
    attribute = attribute or "app"
    if not module_name:
        raise click.BadParameter(f"{target!r} names no module: use MODULE:APP", param_hint="TARGET")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = _import(module_name)
    try:
        app = getattr(module, attribute)
    except AttributeError:
        raise CommandError(
            f"module {module_name!r} has no attribute {attribute!r}; name the App as "
            f"{module_name}:NAME"
        ) from None
    if not isinstance(app, App):
        raise CommandError(f"{module_name}:{attribute} is a {type(app).__name__}, not a strom.App")
    return app


def _import(name: str) -> ModuleType:
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise CommandError(f"file {name!r} does not exist")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise CommandError(f"cannot import {name!r} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise CommandError(
                f"cannot import module {name!r} (from {os.getcwd()}): {exc}"
            ) from exc
        raise


@click.command(name="run")
@click.argument("target", metavar="MODULE:APP")
@broker_option
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default=None,
    help="As strom --log-level (default here: INFO).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="As strom --log-format.",
)
def run(target: str, log_level: str | None, log_format: str | None) -> None:
    """Run the strom.App named MODULE:APP until SIGTERM or SIGINT.

    The first signal stops it gracefully (finish the batch, flush, commit, close); a second
    one exits at once. The log: --broker, else $STROM_BROKER, else the app's broker=, else
    local://./.strom; the start-up line names it. Log lines carry the context of what they
    are about (app, step, topic, partition, offset): as key=value pairs, or as JSON fields
    with --log-format json.
    """
    setup_logging(log_level, log_format, default_level="INFO", kafka_warnings=True)
    app = load_app(target)
    try:
        app.run(broker=explicit_broker())
    except SerializationError as exc:
        if exc.step is not None or exc.offset is None:
            raise
        # An input record could not be decoded, and the app-wide policy is fail().
        raise CommandError(
            f"{exc}. To dead-letter or skip undecodable records, give the app a policy: "
            "App(on_error=...) or App(on_deserialization_error=...); the steps' own on_error= "
            "do not apply, decoding happens before the first step"
        ) from exc
