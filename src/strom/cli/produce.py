"""``strom produce TOPIC``: one record per input line, from stdin or a file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

import click
import orjson
from rich.progress import Progress, SpinnerColumn, TextColumn

from strom.cli.common import CommandError, broker_option, open_log, parse_pairs, stderr_console

_PROGRESS_EVERY = 1000


@click.command()
@click.argument("topic")
@click.option(
    "--file",
    "-f",
    "source",
    type=click.File("rb"),
    default="-",
    help="Read lines from this file instead of stdin.",
)
@click.option(
    "--key-separator",
    "-K",
    metavar="SEP",
    help="Split each line at the first SEP into key and value (a line without SEP is an error).",
)
@click.option(
    "--header",
    "-H",
    "headers",
    multiple=True,
    metavar="NAME=VALUE",
    help="A header added to every record; repeatable.",
)
@click.option(
    "--partition", "-p", type=click.IntRange(min=0), help="Write every record to this partition."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["raw", "json"]),
    default="raw",
    show_default=True,
    help="json: every value must be valid JSON (checked before it is sent).",
)
@broker_option
def produce(
    topic: str,
    source: IO[bytes],
    key_separator: str | None,
    headers: tuple[str, ...],
    partition: int | None,
    fmt: str,
) -> None:
    """Send one record per line of stdin (or --file) to TOPIC.

    Lines are sent as bytes, without their line ending; empty lines are skipped. Keys are
    split off with --key-separator; records without a key are spread over the partitions.
    """
    if key_separator == "":
        raise click.BadParameter("must not be empty", param_hint="--key-separator")
    separator = key_separator.encode() if key_separator is not None else None
    header_pairs = parse_pairs(headers, "--header")
    validate_json = fmt == "json"
    count = 0
    with open_log() as log:
        producer = log.producer()
        try:
            partitions = producer.partitions_for(topic)
            if partition is not None and partition >= partitions:
                raise click.BadParameter(
                    f"topic {topic!r} has {partitions} partitions (0..{partitions - 1}), "
                    f"there is no partition {partition}",
                    param_hint="--partition",
                )
            with _progress(topic) as advance:
                for number, line in enumerate(source, start=1):
                    line = line.rstrip(b"\r\n")
                    if not line:
                        continue
                    key: bytes | None = None
                    value = line
                    if separator is not None:
                        key, found, value = line.partition(separator)
                        if not found:
                            raise _line_error(
                                source, number, count, f"has no key separator {key_separator!r}"
                            )
                    if validate_json:
                        try:
                            orjson.loads(value)
                        except orjson.JSONDecodeError as exc:
                            raise _line_error(
                                source, number, count, f"is not valid JSON: {exc}"
                            ) from None
                    producer.send(topic, value, key, partition=partition, headers=header_pairs)
                    count += 1
                    if count % _PROGRESS_EVERY == 0:
                        producer.poll(0)
                        advance(count)
            producer.flush()
        finally:
            producer.close()
    noun = "record" if count == 1 else "records"
    stderr_console().print(f"Produced {count} {noun} to {topic!r}.")


def _line_error(source: IO[bytes], number: int, sent: int, problem: str) -> CommandError:
    where = "stdin" if getattr(source, "name", "<stdin>") in ("<stdin>", "-") else source.name
    before = f"; the {sent} records before it were produced" if sent else ""
    return CommandError(f"{where} line {number} {problem}{before}")


@contextmanager
def _progress(topic: str) -> Iterator[Callable[[int], None]]:
    """A live record count on a terminal; a no-op otherwise (pipes, tests)."""
    console = stderr_console()
    if not console.is_terminal:
        yield lambda _count: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.completed} records to {task.description}"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(topic, total=None)
        yield lambda count: progress.update(task, completed=count)
