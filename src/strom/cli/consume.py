"""``strom consume TOPIC``: print records from a position, alone or as a group member."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click

from strom.cli.common import (
    CommandError,
    broker_option,
    count,
    interruptible,
    open_log,
    record_progress,
    stderr_console,
)
from strom.cli.output import FORMATS, Decoder, Printer
from strom.errors import StromError, TopicNotFoundError
from strom.log import Consumer, TopicPartition
from strom.serde import SERDE_NAMES, by_name

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_POLL_BATCH = 500
_POLL_WAIT = 0.5
_JOIN_WAIT = 30.0
"""Seconds a group member waits for its first partitions before the idle timeout applies."""


def parse_timestamp(text: str) -> int:
    """Epoch milliseconds from ``text``: digits, or an ISO 8601 date-time (naive is local time).

    Example:
        >>> parse_timestamp("1700000000000")
        1700000000000
        >>> parse_timestamp("2024-05-01T12:00:00Z")
        1714564800000
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither epoch milliseconds nor an ISO 8601 date-time "
            "(e.g. 2024-05-01T12:00:00Z)",
            param_hint="--from-timestamp",
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()
    return (when - _EPOCH) // timedelta(milliseconds=1)


def _timestamp_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> int | None:
    return None if value is None else parse_timestamp(value)


@dataclass(frozen=True, slots=True)
class Start:
    """Where to start reading: ``beginning``, ``end``, ``offset`` or ``timestamp``."""

    kind: str
    value: int = 0

    def apply(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Seek ``partitions`` of ``consumer`` to this position.

        Positions are resolved to concrete offsets (not the beginning/end sentinels) so that
        a group can commit where a partition it printed nothing from stands.
        """
        if not partitions:
            return
        found: dict[TopicPartition, int | None] = {}
        if self.kind == "timestamp":
            found = consumer.offsets_for_times(partitions, self.value)
        for tp in partitions:
            if self.kind == "offset":
                offset = self.value
            elif self.kind == "beginning":
                offset = consumer.watermarks(tp)[0]
            else:
                at = found.get(tp)
                offset = consumer.watermarks(tp)[1] if at is None else at
            consumer.seek(tp, offset)


def _start_from(
    from_beginning: bool, from_end: bool, offset: int | None, from_timestamp: int | None
) -> Start | None:
    chosen = [
        name
        for name, given in (
            ("--from-beginning", from_beginning),
            ("--from-end", from_end),
            ("--offset", offset is not None),
            ("--from-timestamp", from_timestamp is not None),
        )
        if given
    ]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one start position, not {' and '.join(chosen)}")
    if from_beginning:
        return Start("beginning")
    if from_end:
        return Start("end")
    if offset is not None:
        return Start("offset", offset)
    if from_timestamp is not None:
        return Start("timestamp", from_timestamp)
    return None


@click.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the first retained record.")
@click.option(
    "--from-end", is_flag=True, help="Start after the last record (the default without --group)."
)
@click.option(
    "--offset", type=click.IntRange(min=0), help="Start at this offset (needs --partition)."
)
@click.option(
    "--from-timestamp",
    metavar="MS_OR_ISO8601",
    callback=_timestamp_option,
    help="Start at the first record at or after this time (epoch ms or ISO 8601).",
)
@click.option("--partition", "-p", type=click.IntRange(min=0), help="Read only this partition.")
@click.option(
    "--group",
    "-g",
    help="Consume as a member of this consumer group and commit what was printed. Without a "
    "start option, the group resumes at its committed offsets (a partition never committed "
    "on: at its beginning).",
)
@click.option(
    "--max", "-n", "max_records", type=click.IntRange(min=1), help="Stop after N records."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Stop after this many seconds without a record (counted from when the group "
    "assigns partitions); 0 waits until ctrl-C or SIGTERM (or the topic is deleted, an "
    "error).",
)
@click.option(
    "--format",
    "-o",
    "fmt",
    type=click.Choice(FORMATS),
    default="value",
    show_default=True,
    help="value: one value per line; kv: key, separator, value; json: one JSON object per "
    "record (topic, partition, offset, timestamp, key, value, headers); table: a table at the end.",
)
@click.option(
    "--key-separator",
    default="\t",
    show_default="tab",
    help="Separator between key and value in the kv format.",
)
@click.option(
    "--key-deserializer",
    type=click.Choice(SERDE_NAMES, case_sensitive=False),
    default=None,
    help="Default: text, with bytes that are not UTF-8 escaped as \\xNN.",
)
@click.option(
    "--value-deserializer",
    type=click.Choice(SERDE_NAMES, case_sensitive=False),
    default=None,
    help="Default: text, with bytes that are not UTF-8 escaped as \\xNN (as kcat prints "
    "them); in --format json a value that is valid JSON appears as JSON, any other as a "
    "string. string fails on bytes that are not UTF-8; bytes prints values as they are "
    "(base64 in the json format).",
)
@broker_option
def consume(
    topic: str,
    from_beginning: bool,
    from_end: bool,
    offset: int | None,
    from_timestamp: int | None,
    partition: int | None,
    group: str | None,
    max_records: int | None,
    timeout: float,
    fmt: str,
    key_separator: str,
    key_deserializer: str | None,
    value_deserializer: str | None,
) -> None:
    """Print records of TOPIC.

    Without --group, reads every partition (or --partition) from the end, or from the
    start option given. With --group, partitions are shared with the group's other members,
    reading resumes at the group's committed offsets (the beginning where it has none, or
    the start option given), and the offsets of printed records are committed.
    """
    start = _start_from(from_beginning, from_end, offset, from_timestamp)
    if offset is not None and partition is None:
        raise click.UsageError("--offset needs --partition: offsets are per partition")
    if group is not None and partition is not None:
        raise click.UsageError(
            "--partition reads one partition outside of any group; drop --group or --partition"
        )
    printer = Printer(
        fmt,
        Decoder(
            None if key_deserializer is None else by_name(key_deserializer),
            None if value_deserializer is None else by_name(value_deserializer),
        ),
        sys.stdout.buffer,
        key_separator,
    )
    with open_log() as log:
        admin = log.admin()
        try:
            partitions = admin.describe_topic(topic).partitions
        finally:
            admin.close()
        if partition is not None and partition >= partitions:
            raise click.BadParameter(
                f"topic {topic!r} has {count(partitions, 'partition')} (0..{partitions - 1}), "
                f"there is no partition {partition}",
                param_hint="--partition",
            )
        # A group reads what it has not committed, from the start of a partition it never
        # committed on (as strom applications do); a lone reader starts at the end.
        consumer = log.consumer(group, auto_offset_reset="earliest" if group else "latest")
        session = _Session(consumer, printer, group is not None)
        try:
            session.run(topic, partition, partitions, start, max_records, timeout)
        except TopicNotFoundError as exc:
            raise CommandError(f"{exc} (after {count(session.count, 'record')} printed)") from exc
        finally:
            consumer.close()
    stderr_console().print(f"Consumed {count(session.count, 'record')} from {topic!r}.")


class _Session:
    """One consume run: poll, print, commit what was printed, stop on --max or idleness."""

    def __init__(self, consumer: Consumer, printer: Printer, commit: bool) -> None:
        self._consumer = consumer
        self._printer = printer
        self._commit = commit
        self._pending: dict[TopicPartition, int] = {}
        self._returned: set[TopicPartition] = set()
        self._joined = not commit  # without a group, partitions are assigned up front
        self._last_activity = time.monotonic()
        self.count = 0
        """Records printed so far."""

    def run(
        self,
        topic: str,
        partition: int | None,
        partitions: int,
        start: Start | None,
        max_records: int | None,
        idle_timeout: float,
    ) -> None:
        consumer = self._consumer
        if self._commit:

            def on_assign(assigned: list[TopicPartition]) -> None:
                # The idle clock starts once the group gave us something to read.
                self._last_activity = time.monotonic()
                self._joined = True
                if start is not None:
                    start.apply(consumer, assigned)

            consumer.subscribe([topic], on_assign=on_assign)
        else:
            chosen = [partition] if partition is not None else list(range(partitions))
            assigned = [TopicPartition(topic, p) for p in chosen]
            consumer.assign(assigned)
            (start or Start("end")).apply(consumer, assigned)
        # Records go to stdout; when that is a file or a pipe and stderr a terminal, a live
        # count shows there.
        progress = record_progress(f"from {topic}", show=not sys.stdout.isatty())
        try:
            with interruptible(), progress as advance:
                self._loop(topic, max_records, idle_timeout, advance)
        except KeyboardInterrupt:
            pass  # ctrl-C or SIGTERM ends a consume normally: commit what was printed.
        except BaseException:
            # What was printed before the failure counts as read; if that commit fails too,
            # the failure itself is what to report (e.g. the topic was deleted).
            with contextlib.suppress(StromError):
                self._commit_printed()
            raise
        finally:
            self._printer.finish()
        self._commit_untouched()
        self._commit_printed()

    def _loop(
        self,
        topic: str,
        max_records: int | None,
        idle_timeout: float,
        advance: Callable[[int], None],
    ) -> None:
        consumer = self._consumer
        while max_records is None or self.count < max_records:
            wanted = (
                _POLL_BATCH if max_records is None else min(_POLL_BATCH, max_records - self.count)
            )
            batch = consumer.poll(max_records=wanted, timeout=_POLL_WAIT)
            if not batch:
                idle = time.monotonic() - self._last_activity
                if not idle_timeout:
                    continue
                if self._joined and idle >= idle_timeout:
                    break
                if not self._joined and idle >= max(idle_timeout, _JOIN_WAIT):
                    stderr_console().print(
                        f"No partition of {topic!r} was assigned to this member within "
                        f"{max(idle_timeout, _JOIN_WAIT):g} s (more members than partitions?)."
                    )
                    break
                continue
            self._last_activity = time.monotonic()
            for record in batch:
                self._returned.add(record.topic_partition)
            for record in batch[:wanted]:
                self._printer.write(record)
                self._pending[record.topic_partition] = record.offset + 1
                self.count += 1
            self._printer.flush()
            self._commit_printed()
            advance(self.count)

    def _commit_printed(self) -> None:
        if self._commit and self._pending:
            self._consumer.commit(self._pending)
            self._pending = {}

    def _commit_untouched(self) -> None:
        # A partition that returned nothing this run still stands where it was positioned
        # (e.g. by --from-end); committing that keeps the group from re-reading it later.
        if not self._commit:
            return
        untouched = [tp for tp in self._consumer.assignment() if tp not in self._returned]
        unknown = []
        for tp in untouched:
            position = self._consumer.position(tp)
            if position is None:
                unknown.append(tp)  # Kafka: no fetch was made yet
            else:
                self._pending[tp] = position
        if unknown:
            # Where the partition stands all the same: its committed offset, else (the group
            # reads from the earliest offset) its beginning; both logs then commit alike.
            committed = self._consumer.committed(unknown)
            for tp in unknown:
                at = committed.get(tp)
                self._pending[tp] = at if at is not None else self._consumer.watermarks(tp)[0]
