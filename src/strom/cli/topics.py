"""``strom topics list|create|describe|delete``: topic administration."""

from __future__ import annotations

from typing import Any

import click
import orjson
from rich.table import Table

from strom.cli.common import (
    CommandError,
    broker_option,
    count,
    json_option,
    open_log,
    parse_pairs,
    print_table,
    stderr_console,
    stdout_console,
)
from strom.errors import TopicExistsError, TopicNotFoundError
from strom.log import TopicDescription, TopicPartition, TopicSpec


@click.group()
def topics() -> None:
    """Create, list, describe and delete topics."""


def _echo_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


@topics.command("list")
@json_option
@broker_option
def list_topics(as_json: bool) -> None:
    """List topics with their partition counts."""
    with open_log() as log:
        admin = log.admin()
        try:
            described: list[TopicDescription] = []
            for name in admin.list_topics():
                try:
                    described.append(admin.describe_topic(name))
                except TopicNotFoundError:
                    continue  # deleted since it was listed
        finally:
            admin.close()
    if as_json:
        _echo_json(
            [
                {"name": d.name, "partitions": d.partitions, "compacted": d.compacted}
                for d in described
            ]
        )
        return
    if not described:
        stderr_console().print("No topics.")
        return
    table = Table("Topic", "Partitions", "Cleanup policy")
    for d in described:
        table.add_row(d.name, str(d.partitions), d.config.get("cleanup.policy", "delete"))
    print_table(table)


@topics.command("create")
@click.argument("name")
@click.option(
    "--partitions",
    "-p",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Number of partitions.",
)
@click.option(
    "--config",
    "-c",
    "configs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A topic config in Kafka's names (retention.ms, cleanup.policy, ...); repeatable.",
)
@click.option(
    "--replication-factor",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Copies of each partition (Kafka only; the embedded log keeps one).",
)
@click.option("--if-not-exists", is_flag=True, help="Succeed when the topic already exists.")
@broker_option
def create_topic(
    name: str,
    partitions: int,
    configs: tuple[str, ...],
    replication_factor: int,
    if_not_exists: bool,
) -> None:
    """Create topic NAME."""
    config = dict(parse_pairs(configs, "--config"))
    spec = TopicSpec(name, partitions, config, replication_factor)
    with open_log(create=True) as log:
        admin = log.admin()
        try:
            admin.create_topics([spec])
        except TopicExistsError:
            if not if_not_exists:
                raise CommandError(
                    f"topic {name!r} already exists on {log.url} (--if-not-exists accepts that)"
                ) from None
            stderr_console().print(f"Topic {name!r} already exists.")
            return
        finally:
            admin.close()
    stderr_console().print(f"Created topic {name!r} with {count(partitions, 'partition')}.")


@topics.command("describe")
@click.argument("name")
@json_option
@broker_option
def describe_topic(name: str, as_json: bool) -> None:
    """Show the partitions, end offsets and configs of topic NAME."""
    with open_log() as log:
        admin = log.admin()
        try:
            description = admin.describe_topic(name)
            ends = admin.end_offsets(
                [TopicPartition(name, p) for p in range(description.partitions)]
            )
        finally:
            admin.close()
    end_offsets = [ends.get(TopicPartition(name, p), 0) for p in range(description.partitions)]
    if as_json:
        _echo_json(
            {
                "name": description.name,
                "partitions": description.partitions,
                "config": dict(sorted(description.config.items())),
                "end_offsets": end_offsets,
            }
        )
        return
    console = stdout_console()
    console.print(f"Topic {description.name}: {count(description.partitions, 'partition')}")
    offsets = Table("Partition", "End offset")
    for partition, end in enumerate(end_offsets):
        offsets.add_row(str(partition), str(end))
    print_table(offsets, console)
    if description.config:
        configs = Table("Config", "Value")
        for key, value in sorted(description.config.items()):
            configs.add_row(key, value)
        print_table(configs, console)


@topics.command("delete")
@click.argument("names", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@broker_option
def delete_topics(names: tuple[str, ...], yes: bool) -> None:
    """Delete topics NAMES and all their records."""
    listed = ", ".join(repr(n) for n in names)
    if not yes:
        click.confirm(f"Delete {listed} and all their records?", abort=True, err=True)
    with open_log() as log:
        admin = log.admin()
        try:
            admin.delete_topics(list(names))
        finally:
            admin.close()
    stderr_console().print(f"Deleted {listed}.")
