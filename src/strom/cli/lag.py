"""``strom lag --group G``: how far a consumer group is behind, per partition."""

from __future__ import annotations

import click
import orjson
from rich.table import Table

from strom.cli.common import CommandError, broker_option, json_option, open_log, stdout_console


@click.command()
@click.option("--group", "-g", required=True, help="The consumer group.")
@click.option("--topic", "-t", "topics", multiple=True, help="Only this topic; repeatable.")
@json_option
@broker_option
def lag(group: str, topics: tuple[str, ...], as_json: bool) -> None:
    """Show committed offset, end offset and lag of every partition GROUP committed on."""
    with open_log() as log:
        admin = log.admin()
        try:
            rows = admin.group_lag(group)
        finally:
            admin.close()
    if topics:
        rows = [r for r in rows if r.topic in topics]
    rows.sort(key=lambda r: (r.topic, r.partition))
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
                "lag": r.lag,
            }
            for r in rows
        ]
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("Topic", "Partition", "Committed", "End offset", "Lag", title=f"Group {group}")
    for r in rows:
        committed = "-" if r.committed is None else str(r.committed)
        table.add_row(r.topic, str(r.partition), committed, str(r.end_offset), str(r.lag))
    table.add_section()
    table.add_row("total", "", "", "", str(sum(r.lag for r in rows)), style="bold")
    stdout_console().print(table)
