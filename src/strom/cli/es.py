"""``strom es``: inspect and follow an event store; relay its events to a topic.

    strom es --store URL streams [--prefix P]
    strom es --store URL show STREAM [--from V] [--to V] [--as-of TIME]
    strom es --store URL state ID --aggregate mod:Class --registry mod:attr [--as-of TIME]
    strom es --store URL follow [--from POS | --name NAME] [--max N]
    strom es --store URL relay --topic T [--name N] --broker URL

The store URL is ``postgresql://...`` or ``sqlite://PATH`` (``--store`` or ``$STROM_ES_STORE``;
``--schema`` / ``$STROM_ES_SCHEMA`` picks the PostgreSQL schema). TIME is ISO 8601 with a
time zone (``2026-05-01T12:00:00Z``) or epoch milliseconds.

Example:
    >>> from click.testing import CliRunner
    >>> result = CliRunner().invoke(es, ["--help"])
    >>> result.exit_code, "streams" in result.output
    (0, True)
"""

from __future__ import annotations

import datetime as dt
import importlib
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import msgspec
import orjson
from rich.table import Table

import strom.es
from strom.cli.common import (
    CommandError,
    broker_option,
    broker_url,
    json_option,
    setup_logging,
    stdout_console,
)
from strom.es.store import EventStore
from strom.es.types import RecordedEvent

STORE_ENV = "STROM_ES_STORE"
SCHEMA_ENV = "STROM_ES_SCHEMA"


def parse_time(value: str | None) -> int | None:
    """``--as-of`` as epoch milliseconds: digits, or ISO 8601 with a time zone.

    Example:
        >>> parse_time("2026-01-01T00:00:00Z"), parse_time("1767225600000")
        (1767225600000, 1767225600000)
    """
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither ISO 8601 nor epoch milliseconds", param_hint="--as-of"
        ) from None
    if when.tzinfo is None:
        raise click.BadParameter(
            f"{value!r} has no time zone (add Z or +02:00)", param_hint="--as-of"
        )
    return int(when.timestamp() * 1000)


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


def event_json(event: RecordedEvent) -> dict[str, Any]:
    """An event as a JSON-ready dict (data as JSON when it is, else as text)."""
    try:
        data: Any = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        data = event.data.decode(errors="replace")
    return {
        "position": event.position,
        "stream": event.stream_id,
        "version": event.version,
        "type": event.type,
        "type_version": event.type_version,
        "id": str(event.id),
        "time": iso(event.timestamp),
        "data": data,
        "metadata": event.metadata,
    }


@contextmanager
def open_store() -> Iterator[EventStore]:
    """The store named by the group's ``--store`` and ``--schema``."""
    ctx = click.get_current_context()
    url, schema = ctx.meta.get("strom.es.store"), ctx.meta.get("strom.es.schema")
    if not url:
        raise CommandError(f"no event store: give --store URL or set ${STORE_ENV}")
    options = {"schema": schema} if schema and not url.startswith("sqlite://") else {}
    store = strom.es.connect(url, **options)
    try:
        yield store
    finally:
        store.close()


def load_attr(spec: str, option: str) -> Any:
    """``module:attribute`` imported (the current directory is importable)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise click.BadParameter(f"{spec!r} is not MODULE:ATTRIBUTE", param_hint=option)
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {spec!r}: {exc}", param_hint=option) from None
    return value


@click.group()
@click.option(
    "--store",
    envvar=STORE_ENV,
    show_envvar=True,
    metavar="URL",
    help="Event store: postgresql://... or sqlite://PATH.",
)
@click.option(
    "--schema",
    envvar=SCHEMA_ENV,
    show_envvar=True,
    help="PostgreSQL schema of the store (default strom_es).",
)
def es(store: str | None, schema: str | None) -> None:
    """Event store: list streams, show events, state as of a time, follow, relay."""
    ctx = click.get_current_context()
    ctx.meta["strom.es.store"] = store
    ctx.meta["strom.es.schema"] = schema


@es.command()
@click.option("--prefix", default="", help="Only streams whose id starts with this.")
@click.option("--limit", default=1000, show_default=True, help="At most this many streams.")
@json_option
def streams(prefix: str, limit: int, as_json: bool) -> None:
    """List streams with their version and last append time."""
    with open_store() as store:
        rows = store.streams(prefix=prefix, limit=limit)
    if as_json:
        data = [
            {"stream": r.stream_id, "version": r.version, "updated": iso(r.updated)} for r in rows
        ]
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("Stream", "Version", "Last append (UTC)")
    for r in rows:
        table.add_row(r.stream_id, str(r.version), iso(r.updated))
    stdout_console().print(table)


@es.command()
@click.argument("stream")
@click.option("--from", "from_version", default=1, show_default=True, help="First version.")
@click.option("--to", "to_version", type=int, help="Last version.")
@click.option("--as-of", "as_of", help="Only events appended by then (ISO 8601 or epoch ms).")
@json_option
def show(
    stream: str, from_version: int, to_version: int | None, as_of: str | None, as_json: bool
) -> None:
    """Show a stream's events: the audit trail (who, when, why)."""
    with open_store() as store:
        rows = store.read(stream, from_version, to_version, as_of=parse_time(as_of))
        if not rows and store.stream_version(stream) == 0:
            raise CommandError(f"stream {stream!r} does not exist")
    if as_json:
        for event in rows:
            click.echo(orjson.dumps(event_json(event)).decode())
        return
    table = Table(
        "Version",
        "Position",
        "Time (UTC)",
        "Type",
        "Actor",
        "Reason",
        "Data",
        title=f"Stream {stream}",
    )
    for e in rows:
        meta = e.metadata
        data = e.data.decode(errors="replace")
        table.add_row(
            str(e.version),
            str(e.position),
            iso(e.timestamp),
            f"{e.type} v{e.type_version}",
            str(meta.get("actor") or ""),
            str(meta.get("reason") or ""),
            data if len(data) <= 60 else data[:57] + "...",
        )
    stdout_console().print(table)


@es.command()
@click.argument("aggregate_id")
@click.option(
    "--aggregate",
    "aggregate_spec",
    required=True,
    metavar="MODULE:CLASS",
    help="The Aggregate subclass.",
)
@click.option(
    "--registry",
    "registry_spec",
    required=True,
    metavar="MODULE:ATTR",
    help="The EventRegistry of its events.",
)
@click.option("--prefix", help="Stream prefix (default: the class name and '-').")
@click.option("--as-of", "as_of", help="State as of this time (ISO 8601 or epoch ms).")
@click.option("--version", "version", type=int, help="State as of this version.")
def state(
    aggregate_id: str,
    aggregate_spec: str,
    registry_spec: str,
    prefix: str | None,
    as_of: str | None,
    version: int | None,
) -> None:
    """Print an aggregate's state (now, as of a version or a time) as JSON."""
    cls = load_attr(aggregate_spec, "--aggregate")
    registry = load_attr(registry_spec, "--registry")
    if not (isinstance(cls, type) and issubclass(cls, strom.es.Aggregate)):
        raise click.BadParameter(
            f"{aggregate_spec} is not an Aggregate class", param_hint="--aggregate"
        )
    if not isinstance(registry, strom.es.EventRegistry):
        raise click.BadParameter(
            f"{registry_spec} is not an EventRegistry", param_hint="--registry"
        )
    with open_store() as store:
        repo = strom.es.Repository(store, cls, registry, prefix=prefix)
        aggregate = repo.load(aggregate_id, version=version, as_of=parse_time(as_of))
    out = {
        "id": aggregate.id,
        "version": aggregate.version,
        "state": msgspec.json.decode(aggregate.snapshot_state()),
    }
    click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


@es.command()
@click.option(
    "--from",
    "from_position",
    type=int,
    help="First position (default: after the checkpoint of --name, else 1).",
)
@click.option("--name", help="Subscriber name: resume from and commit its checkpoint.")
@click.option("--max", "max_events", type=int, help="Stop after this many events.")
@click.option("--idle-timeout", type=float, help="Stop after this many seconds without events.")
def follow(
    from_position: int | None, name: str | None, max_events: int | None, idle_timeout: float | None
) -> None:
    """Print the global order as JSON lines: catch up, then follow live (Ctrl-C stops)."""
    count = 0
    with open_store() as store:
        sub = store.subscribe(name, from_position=from_position)
        signal.signal(signal.SIGTERM, lambda *_: sub.stop())
        idle = 0.0
        while max_events is None or count < max_events:
            want = 500 if max_events is None else min(500, max_events - count)
            batch = sub.poll(want, timeout=1.0)
            if not batch:
                idle += 1.0
                if idle_timeout is not None and idle >= idle_timeout:
                    break
                continue
            idle = 0.0
            for event in batch:
                click.echo(orjson.dumps(event_json(event)).decode())
            count += len(batch)
            if name:
                sub.commit()


@es.command()
@click.option("--topic", "-t", required=True, help="Target topic (created when missing).")
@click.option("--name", default="outbox", show_default=True, help="Relay name (one per topic).")
@click.option("--partitions", default=1, show_default=True, help="Partitions when created.")
@click.option("--batch-size", default=500, show_default=True, help="Events per transaction.")
@click.option("--idle-timeout", type=float, help="Stop after this many seconds without events.")
@broker_option
def relay(
    topic: str, name: str, partitions: int, batch_size: int, idle_timeout: float | None
) -> None:
    """Publish the store's events to a topic, exactly once, in order per stream."""
    setup_logging(default_level="INFO")
    with open_store() as store:
        outbox = strom.es.OutboxRelay(
            store, broker_url(), topic, name=name, partitions=partitions, batch_size=batch_size
        )
        signal.signal(signal.SIGTERM, lambda *_: outbox.stop())
        try:
            total = outbox.run(idle_timeout=idle_timeout)
        finally:
            outbox.close()
    click.echo(f"relayed {total} events; at position {outbox.position}", err=True)
