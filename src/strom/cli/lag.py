"""``strom lag --group G``: how far a consumer group is behind, per partition."""

from __future__ import annotations

import click
import orjson
from rich.table import Table

from strom.cli.common import (
    CommandError,
    broker_option,
    json_option,
    open_log,
    print_table,
)
from strom.errors import TopicNotFoundError
from strom.log import Admin, PartitionLag, TopicPartition


@click.command()
@click.option("--group", "-g", required=True, help="The consumer group.")
@click.option("--topic", "-t", "topics", multiple=True, help="Only this topic; repeatable.")
@json_option
@broker_option
def lag(group: str, topics: tuple[str, ...], as_json: bool) -> None:
    """Show committed offset, end offset and lag of every partition of the topics GROUP
    committed on (a partition it never committed on shows '-': where it starts depends on
    the reader's auto.offset.reset)."""
    with open_log() as log:
        admin = log.admin()
        try:
            rows = _every_partition(admin, admin.group_lag(group), set(topics))
        finally:
            admin.close()
    if not rows:
        on = f" on {', '.join(repr(t) for t in topics)}" if topics else ""
        raise CommandError(
            f"consumer group {group!r} has no committed offsets{on}: check the group id and "
            "the broker, or let the group commit first"
        )
    if as_json:
        data = [
            {
                "topic": r.topic,
                "partition": r.partition,
                "committed": r.committed,
                "end_offset": r.end_offset,
                "lag": None if r.committed is None else r.lag,
            }
            for r in rows
        ]
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("Topic", "Partition", "Committed", "End offset", "Lag", title=f"Group {group}")
    for r in rows:
        known = r.committed is not None
        table.add_row(
            r.topic,
            str(r.partition),
            str(r.committed) if known else "-",
            str(r.end_offset),
            str(r.lag) if known else "-",
        )
    table.add_section()
    table.add_row("total", "", "", "", str(sum(r.lag for r in rows if r.committed is not None)))
    print_table(table)


def _every_partition(
    admin: Admin, committed: list[PartitionLag], only: set[str]
) -> list[PartitionLag]:
    """``committed`` completed with the partitions of the same topics that have no commit,
    sorted: the logs report only what was committed, which depends on how the group's
    members commit; the table shows whole topics on every log."""
    rows = {
        TopicPartition(r.topic, r.partition): r for r in committed if not only or r.topic in only
    }
    for topic in sorted({tp.topic for tp in rows}):
        try:
            partitions = admin.describe_topic(topic).partitions
        except TopicNotFoundError:
            continue  # deleted since the group committed on it
        missing = [TopicPartition(topic, p) for p in range(partitions) if (topic, p) not in rows]
        if missing:
            ends = admin.end_offsets(missing)
            for tp in missing:
                rows[tp] = PartitionLag(tp.topic, tp.partition, None, ends.get(tp, 0), 0)
    return [rows[tp] for tp in sorted(rows)]
