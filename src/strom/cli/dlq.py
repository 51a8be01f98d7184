"""``strom dlq list|show|replay``: inspect dead-letter topics and re-inject their records.

* ``list`` — the dead-letter topics (see :func:`strom.ops.dlq.find_dead_letter_topics`) with
  their record counts; ``--topic T`` (repeatable) reads T and breaks the count down by error
  type, step and source topic.
* ``show TOPIC`` — the records with their failure headers; ``--json`` prints one JSON object
  per line (key and value as UTF-8 text when they are, always as base64 too).
* ``replay TOPIC`` — re-inject records (original key, value, headers and timestamp) to their
  source topic or ``--to``, at least once, continuing where the replay group last committed.
"""

from __future__ import annotations

import base64
import sys
from datetime import UTC, datetime
from typing import Any

import click
import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from strom.cli.common import (
    CommandError,
    broker_option,
    count,
    json_option,
    open_log,
    print_table,
    stderr_console,
    stdout_console,
)
from strom.dead_letter import try_parse
from strom.errors import TopicNotFoundError
from strom.log import Log, Record, TopicPartition
from strom.ops.dlq import (
    DEFAULT_GROUP_PREFIX,
    ReplayFilter,
    Summary,
    check_topic_exists,
    find_dead_letter_topics,
    read_dead_letters,
    replay,
    summarize,
)

_PREVIEW = 200


@click.group()
def dlq() -> None:
    """Inspect dead-letter topics and replay their records."""


def _echo_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _preview(data: bytes | None) -> str:
    if data is None:
        return "null"
    text = _text(data)
    shown = repr(data[:_PREVIEW]) if text is None else repr(text[:_PREVIEW])
    more = f" ... ({len(data)} bytes)" if len(data) > _PREVIEW else ""
    return shown + more


@dlq.command("list")
@click.option(
    "--topic",
    "-t",
    "topics",
    multiple=True,
    metavar="TOPIC",
    help="Read these topics and count records by error type, step and source (repeatable).",
)
@click.option(
    "--match",
    "-m",
    "patterns",
    multiple=True,
    metavar="PATTERN",
    help="Only consider topics matching this shell pattern, e.g. 'orders*' (repeatable).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds to wait for topics to show their first records.",
)
@json_option
@broker_option
def list_command(
    topics: tuple[str, ...], patterns: tuple[str, ...], timeout: float, as_json: bool
) -> None:
    """List dead-letter topics: those whose records carry strom's error headers, and topics
    named *-dlq, *.dlq or *_dlq. Finding them reads the first records of every topic: on a
    large cluster, narrow it with --match. Counts are offsets held (approximate on Kafka,
    where transaction markers take offsets too)."""
    with open_log() as log:
        if topics:
            summaries: list[Summary] = []
            for name in topics:
                check_topic_exists(log, name)
                summaries.append(summarize(log, name))
            if as_json:
                _echo_json([s.as_dict() for s in summaries])
                return
            for summary in summaries:
                _print_summary(summary)
            return
        discovery = find_dead_letter_topics(log, match=patterns, timeout=timeout)
        names = discovery.topics
        if discovery.undecided:
            stderr_console().print(
                f"Not all partitions answered within {timeout:g} s; not known whether these are "
                f"dead-letter topics: {', '.join(discovery.undecided)}"
            )
        counts: dict[str, int] = {}
        consumer = log.consumer(None)
        admin = log.admin()
        try:
            for name in names:
                try:
                    marks = [
                        consumer.watermarks(TopicPartition(name, p))
                        for p in range(admin.describe_topic(name).partitions)
                    ]
                except TopicNotFoundError:
                    continue  # deleted since it was found
                counts[name] = sum(max(0, high - low) for low, high in marks)
            names = [n for n in names if n in counts]
        finally:
            admin.close()
            consumer.close()
    if as_json:
        _echo_json([{"topic": n, "records": counts[n]} for n in names])
        return
    if not names:
        stderr_console().print("No dead-letter topics.")
        return
    table = Table("Dead-letter topic", "Records")
    for name in names:
        table.add_row(name, str(counts[name]))
    print_table(table)


def _print_summary(summary: Summary) -> None:
    console = stdout_console()
    console.print(
        f"{summary.topic}: {count(summary.total, 'record')}, "
        f"first failure {_when(summary.first_failure_ms)}"
        f", last failure {_when(summary.last_failure_ms)}"
    )
    if summary.not_dead_letters:
        console.print(f"  {count(summary.not_dead_letters, 'record')} without strom error headers")
    for title, counter in (
        ("Error type", summary.by_error_type),
        ("Step", summary.by_step),
        ("Source topic", summary.by_source),
    ):
        if not counter:
            continue
        table = Table(title, "Records")
        for name, number in counter.most_common():
            table.add_row(name, str(number))
        print_table(table, console)


def _record_json(record: Record) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "dlq": {"topic": record.topic, "partition": record.partition, "offset": record.offset},
        "timestamp": record.timestamp,
    }
    dead = try_parse(record)
    if dead is not None:
        f = dead.failure
        entry["source"] = dead.source._asdict()
        entry["error"] = {
            "type": f.error_type,
            "message": f.message,
            "step": f.step,
            "attempts": f.attempts,
            "first_failure_ms": f.first_failure_ms,
            "last_failure_ms": f.last_failure_ms,
            "app": f.app,
            "traceback": f.traceback,
        }
        headers = dead.original_headers
    else:
        entry["source"] = None
        entry["error"] = None
        headers = record.headers
    for name, data in (("key", record.key), ("value", record.value)):
        entry[name] = _text(data)
        entry[f"{name}_base64"] = None if data is None else base64.b64encode(data).decode()
    entry["headers"] = [[k, v.decode("utf-8", "backslashreplace")] for k, v in headers]
    return entry


def _print_record(record: Record) -> None:
    console = stdout_console()
    console.print(f"{record.topic}/{record.partition}@{record.offset}", style="bold")
    headers = record.headers
    dead = try_parse(record)
    if dead is None:
        console.print("  (no well-formed strom error headers)")
    else:
        headers = dead.original_headers
        f, s = dead.failure, dead.source
        console.print(
            f"  source     {s.topic}/{s.partition}@{s.offset}  timestamp {_when(s.timestamp)}"
        )
        console.print(f"  step       {f.step}  attempts {f.attempts}")
        console.print(f"  error      {f.error_type}: {f.message}")
        console.print(
            f"  failed     first {_when(f.first_failure_ms)}  last {_when(f.last_failure_ms)}"
        )
        if f.app:
            console.print(f"  app        {f.app}")
    console.print(f"  key        {_preview(record.key)}")
    console.print(f"  value      {_preview(record.value)}")
    for name, data in headers:
        console.print(f"  header     {name}={_preview(data)}")


@dlq.command("show")
@click.argument("topic")
@click.option("--max", "-n", "max_records", type=click.IntRange(min=0), help="Show at most N.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object per record (JSON Lines), not text.",
)
@broker_option
def show_command(topic: str, max_records: int | None, as_json: bool) -> None:
    """Print the records of dead-letter TOPIC with their error headers, oldest first."""
    with open_log() as log:
        check_topic_exists(log, topic)
        shown = 0
        for record in read_dead_letters(log, topic, max_records=max_records):
            shown += 1
            if as_json:
                click.echo(orjson.dumps(_record_json(record)).decode())
            else:
                _print_record(record)
    if not shown and not as_json:
        stderr_console().print(f"No records in {topic}.")


@dlq.command("replay")
@click.argument("topic")
@click.option("--to", "to", metavar="TOPIC", help="Target topic (default: each record's source).")
@click.option("--filter-step", metavar="STEP", help="Only records that failed in this step.")
@click.option(
    "--filter-error-type",
    metavar="TYPE",
    help="Only records that failed with this exception type (ValueError or a qualified name).",
)
@click.option("--filter-source", metavar="TOPIC", help="Only records read from this topic.")
@click.option("--max", "-n", "max_records", type=click.IntRange(min=0), help="Replay at most N.")
@click.option(
    "--group",
    "-g",
    metavar="GROUP",
    help=f"Replay group whose offsets record progress (default: {DEFAULT_GROUP_PREFIX}TOPIC).",
)
@click.option(
    "--from-beginning",
    is_flag=True,
    help="Start at the first record, not where the replay group stopped.",
)
@click.option(
    "--new-timestamp",
    is_flag=True,
    help="Stamp replayed records with the current time, not their original timestamp.",
)
@json_option
@broker_option
def replay_command(
    topic: str,
    to: str | None,
    filter_step: str | None,
    filter_error_type: str | None,
    filter_source: str | None,
    max_records: int | None,
    group: str | None,
    from_beginning: bool,
    new_timestamp: bool,
    as_json: bool,
) -> None:
    """Re-inject the records of dead-letter TOPIC, at least once.

    Each record keeps its key, value, headers and timestamp; strom's error headers are removed
    and strom.replayed_from=DLQ/PARTITION/OFFSET is added. Progress is committed to the replay
    group after every flushed batch, so running the command again continues where it stopped.
    The group also passes over filtered records: use another --group for another filter.
    """
    where = ReplayFilter(step=filter_step, error_type=filter_error_type, source_topic=filter_source)
    with open_log() as log:
        check_topic_exists(log, topic)
        if to is not None:
            _check_target(log, to)
        console = stderr_console()
        with Progress(
            TextColumn("replaying {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not sys.stderr.isatty(),
        ) as bar:
            task = bar.add_task(topic, total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = replay(
                log,
                topic,
                to=to,
                where=where,
                max_records=max_records,
                group=group,
                from_beginning=from_beginning,
                keep_timestamp=not new_timestamp,
                progress=progress,
            )
    if as_json:
        _echo_json(result.as_dict())
        return
    targets = ", ".join(f"{n} to {t}" for t, n in sorted(result.by_target.items())) or "none"
    stdout_console().print(
        f"Replayed {count(result.replayed, 'record')} from {topic} ({targets}); passed over "
        f"{result.filtered} by filter and {result.not_dead_letters} without error headers; "
        f"progress committed to group {result.group}."
    )


def _check_target(log: Log, topic: str) -> None:
    admin = log.admin()
    try:
        if topic not in admin.list_topics():
            raise CommandError(
                f"target topic {topic!r} (--to) does not exist on {log.url}; create it with "
                f"`strom topics create {topic}`, or leave out --to to replay each record to "
                "the topic it was read from"
            )
    finally:
        admin.close()
