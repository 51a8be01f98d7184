"""``strom produce TOPIC``: one record per input line, from stdin or a file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import click
import orjson

from strom.cli.common import (
    CommandError,
    Terminated,
    broker_option,
    count,
    interruptible,
    open_log,
    parse_pairs,
    record_progress,
    stderr_console,
)

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
    ctrl-C or SIGTERM stops reading: what was read is sent and flushed, and counted.
    """
    if key_separator == "":
        raise click.BadParameter("must not be empty", param_hint="--key-separator")
    separator = key_separator.encode() if key_separator is not None else None
    header_pairs = parse_pairs(headers, "--header")
    validate_json = fmt == "json"
    with open_log() as log:
        producer = log.producer()
        try:
            partitions = producer.partitions_for(topic)
            if partition is not None and partition >= partitions:
                raise click.BadParameter(
                    f"topic {topic!r} has {count(partitions, 'partition')} "
                    f"(0..{partitions - 1}), there is no partition {partition}",
                    param_hint="--partition",
                )
            lines = _Lines(source, separator, validate_json)
            stopped = ""
            try:
                with interruptible(), record_progress(f"to {topic}") as advance:
                    for key, value in lines:
                        producer.send(topic, value, key, partition=partition, headers=header_pairs)
                        if lines.sent % _PROGRESS_EVERY == 0:
                            producer.poll(0)
                            advance(lines.sent)
            except KeyboardInterrupt as exc:
                stopped = " (stopped by SIGTERM)" if isinstance(exc, Terminated) else " (stopped)"
            finally:
                # What was sent before a bad line or a signal is delivered, as reported.
                producer.flush()
        finally:
            producer.close()
    stderr_console().print(f"Produced {count(lines.sent, 'record')} to {topic!r}{stopped}.")


class _Lines:
    """The records of the input lines, as (key, value); :attr:`sent` counts those taken."""

    def __init__(self, source: IO[bytes], separator: bytes | None, validate_json: bool) -> None:
        self._source = source
        self._separator = separator
        self._validate_json = validate_json
        self.sent = 0

    def __iter__(self) -> Iterator[tuple[bytes | None, bytes]]:
        separator = self._separator
        for number, line in enumerate(self._source, start=1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            key: bytes | None = None
            value = line
            if separator is not None:
                key, found, value = line.partition(separator)
                if not found:
                    raise self._error(number, f"has no key separator {separator.decode()!r}")
            if self._validate_json:
                try:
                    orjson.loads(value)
                except orjson.JSONDecodeError as exc:
                    raise self._error(number, f"is not valid JSON: {exc}") from None
            yield key, value
            self.sent += 1

    def _error(self, number: int, problem: str) -> CommandError:
        source = self._source
        where = "stdin" if getattr(source, "name", "<stdin>") in ("<stdin>", "-") else source.name
        verb = "was" if self.sent == 1 else "were"
        before = ""
        if self.sent:
            before = f"; the {count(self.sent, 'record')} before it {verb} produced"
        return CommandError(f"{where} line {number} {problem}{before}")
