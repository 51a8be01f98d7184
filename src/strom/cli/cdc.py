"""``strom cdc``: capture database changes as Debezium-compatible events (docs/cdc.md).

strom cdc run --source postgresql://user@host/db --tables public.orders --to kafka://...
strom cdc status --source postgresql://user@host/db
strom cdc drop-slot --source postgresql://user@host/db --slot strom_shop
strom cdc forget --name shop --broker kafka://...
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import click
import orjson
from rich.table import Table

from strom.cdc.capture import POSTGRES_SCHEMES, capture, default_slot, scheme_of
from strom.cdc.engine import EngineSettings, open_offsets
from strom.cdc.offsets import OFFSETS_TOPIC
from strom.cli.common import (
    CommandError,
    broker_option,
    broker_url,
    json_option,
    open_log,
    print_table,
    setup_logging,
)

log = logging.getLogger("strom.cdc")


@click.group()
def cdc() -> None:
    """Change data capture from PostgreSQL and MySQL/MariaDB into topics (Debezium format)."""


_source = click.option(
    "--source",
    "-s",
    required=True,
    metavar="URL",
    help="postgresql://USER[:PW]@HOST:PORT/DB or mysql://USER:PW@HOST:PORT/DB (mariadb://).",
)


@cdc.command()
@_source
@click.option(
    "--tables", "-t", required=True, help="Comma list of schema.table (MySQL: database.table)."
)
@click.option("--to", "to", metavar="URL", help="Output log (default: --broker / $STROM_BROKER).")
@click.option("--prefix", help="Topic prefix: topics are PREFIX.schema.table (default: the DB).")
@click.option("--name", help="Capture name: key of the stored position (default: the prefix).")
@click.option("--slot", help="PostgreSQL replication slot (default: strom_NAME).")
@click.option("--publication", help="PostgreSQL publication (default: the slot's name).")
@click.option(
    "--create-publication/--no-create-publication",
    default=True,
    show_default=True,
    help="Create the publication when missing (else a missing one is an error).",
)
@click.option(
    "--snapshot",
    type=click.Choice(["initial", "never"]),
    default="initial",
    show_default=True,
    help="Snapshot the tables first when no position is stored.",
)
@click.option(
    "--missing-key",
    type=click.Choice(["fail", "none", "all-columns"]),
    default="fail",
    show_default=True,
    help="Tables without a primary key: refuse, no key, or every column as key.",
)
@click.option("--schemas/--no-schemas", default=True, show_default=True,
              help="Write Debezium's {schema, payload} JSON, or the payload only.")  # fmt: skip
@click.option("--tombstones/--no-tombstones", default=True, show_default=True,
              help="Follow each delete with a null-value record.")  # fmt: skip
@click.option("--heartbeat-interval", type=float, metavar="SECONDS",
              help="Heartbeat records on __debezium-heartbeat.PREFIX every SECONDS.")  # fmt: skip
@click.option("--checkpoint-interval", type=float, default=1.0, show_default=True,
              metavar="SECONDS", help="Longest time between position checkpoints.")  # fmt: skip
@click.option("--partitions", type=int, default=1, show_default=True,
              help="Partitions of the change topics strom creates.")  # fmt: skip
@click.option("--offsets", default="log", show_default=True, metavar="log|PATH",
              help="Store the position in a compacted topic of the log, or a file.")  # fmt: skip
@click.option("--server-id", type=int, help="MySQL: replica server id (default: random).")
@click.option(
    "--resume",
    type=click.Choice(["position", "gtid"]),
    default="position",
    show_default=True,
    help="MySQL: resume from binlog file/position or from the GTID position (MariaDB).",
)
@click.option("--max-seconds", type=float, hidden=True)
@broker_option
def run(
    source: str,
    tables: str,
    to: str | None,
    prefix: str | None,
    name: str | None,
    max_seconds: float | None,
    **options: Any,
) -> None:
    """Capture TABLES of SOURCE into one topic per table, until SIGTERM or Ctrl-C.

    At-least-once with no loss: the position is stored (and acknowledged to PostgreSQL) only
    after the log acknowledged every change before it; a restart resumes there.
    """
    setup_logging(default_level="INFO")
    scheme_of(source)
    prefix = prefix or _database_of(source)
    engine = capture(
        source,
        tables,
        to=to or broker_url(),
        prefix=prefix,
        name=name,
        **options,
    )
    stop_count = 0

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stop_count
        stop_count += 1
        if stop_count > 1:
            raise KeyboardInterrupt
        log.info("stopping: final checkpoint (signal %d)", signum)
        engine.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    engine.run(max_seconds=max_seconds)
    stats = engine.stats
    log.info(
        "capture %s stopped after %.1fs: %d change(s), %d record(s), %d checkpoint(s), at %s",
        engine.settings.capture_name,
        time.monotonic() - started,
        stats.changes,
        stats.records,
        stats.checkpoints,
        stats.position,
    )


def _database_of(url: str) -> str:
    path = url.split("?")[0].rsplit("/", 1)[-1]
    if not path or "@" in path or ":" in path:
        raise CommandError(f"--prefix is required: {url.split('@')[-1]!r} names no database")
    return path


@cdc.command()
@_source
@click.option("--slot", help="Only this PostgreSQL slot.")
@click.option("--name", help="Also show the position stored for this capture (needs the log).")
@click.option("--offsets", default="log", show_default=True, metavar="log|PATH")
@click.option("--offsets-topic", default=OFFSETS_TOPIC, show_default=True)
@json_option
@broker_option
def status(
    source: str,
    slot: str | None,
    name: str | None,
    offsets: str,
    offsets_topic: str,
    as_json: bool,
) -> None:
    """Replication slots and their lag (PostgreSQL) or the binlog position (MySQL), and the
    stored position of capture NAME. An inactive slot that holds much WAL is a disk risk:
    drop it with `strom cdc drop-slot` if its capture is gone."""
    stored = None
    if name:
        with open_log() as out_log:
            store = open_offsets(
                EngineSettings(name, name=name, offsets=offsets, offsets_topic=offsets_topic),
                out_log,
            )
            try:
                stored = store.load()
            finally:
                store.close()
    if scheme_of(source) in POSTGRES_SCHEMES:
        _postgres_status(source, slot, stored, as_json)
    else:
        _mysql_status(source, stored, as_json)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


def _postgres_status(source: str, slot: str | None, stored: Any, as_json: bool) -> None:
    from strom.cdc.postgres.admin import slot_status
    from strom.cdc.postgres.pgoutput import format_lsn

    slots = slot_status(source, slot)
    if slot and not slots:
        raise CommandError(f"replication slot {slot!r} does not exist")
    if as_json:
        data = {
            "slots": [
                {
                    "slot": s.name,
                    "plugin": s.plugin,
                    "database": s.database,
                    "active": s.active,
                    "active_pid": s.active_pid,
                    "confirmed_flush_lsn": s.confirmed_flush_lsn,
                    "lag_bytes": s.lag_bytes,
                    "retained_wal_bytes": s.retained_bytes,
                    "wal_status": s.wal_status,
                }
                for s in slots
            ],
            "stored_position": stored,
        }
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(
        "Slot", "Plugin", "Active", "Confirmed", "Lag", "WAL held", "WAL status",
        title="Replication slots",
    )  # fmt: skip
    for s in slots:
        table.add_row(
            s.name,
            s.plugin or "-",
            f"yes (pid {s.active_pid})" if s.active else "NO",
            format_lsn(s.confirmed_flush_lsn) if s.confirmed_flush_lsn is not None else "-",
            _size(s.lag_bytes),
            _size(s.retained_bytes),
            s.wal_status or "-",
        )
    print_table(table)
    if stored is not None:
        click.echo(f"stored position: {orjson.dumps(stored).decode()}")
    idle = [s.name for s in slots if not s.active]
    if idle:
        click.echo(
            f"warning: inactive slot(s) {', '.join(idle)} keep WAL on the server; "
            "drop them with `strom cdc drop-slot` if their capture is gone",
            err=True,
        )


def _mysql_status(source: str, stored: Any, as_json: bool) -> None:
    from strom.cdc.mysql.admin import binlog_status

    st = binlog_status(source)
    behind = None
    if stored is not None and "file" in stored:
        behind = st.bytes_behind(str(stored["file"]), int(stored["pos"]))
    if as_json:
        data = {
            "file": st.file,
            "position": st.position,
            "gtid": st.gtid,
            "files": [{"file": f, "bytes": n} for f, n in st.files],
            "stored_position": stored,
            "bytes_behind": behind,
        }
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"binlog: {st.file}:{st.position} gtid={st.gtid or '-'} ({len(st.files)} file(s))")
    if stored is not None:
        state = "no longer on the server" if behind is None else f"{_size(behind)} behind"
        click.echo(f"stored position: {orjson.dumps(stored).decode()} ({state})")


@cdc.command("drop-slot")
@_source
@click.option("--slot", help="The slot (default: strom_NAME).")
@click.option("--name", help="The capture name whose default slot to drop.")
@click.option("--terminate", is_flag=True, help="End the process holding the slot first.")
@click.option("--drop-publication", is_flag=True, help="Drop the publication of the same name too.")
@click.option("--publication", help="The publication to drop (default: the slot's name).")
def drop_slot(
    source: str,
    slot: str | None,
    name: str | None,
    terminate: bool,
    drop_publication: bool,
    publication: str | None,
) -> None:
    """Drop a PostgreSQL replication slot so the server can release its WAL."""
    if scheme_of(source) not in POSTGRES_SCHEMES:
        raise CommandError("drop-slot is for PostgreSQL; a MySQL binlog reader holds no slot")
    if not slot and not name:
        raise CommandError("name the slot: --slot SLOT or --name CAPTURE")
    from strom.cdc.postgres.admin import drop_slot as drop

    slot_name = slot or default_slot(str(name))
    existed = drop(
        source,
        slot_name,
        terminate=terminate,
        publication=(publication or slot_name) if drop_publication else None,
    )
    click.echo(f"dropped slot {slot_name}" if existed else f"no slot {slot_name}")


@cdc.command()
@click.option("--name", required=True, help="The capture whose stored position to forget.")
@click.option("--offsets", default="log", show_default=True, metavar="log|PATH")
@click.option("--offsets-topic", default=OFFSETS_TOPIC, show_default=True)
@broker_option
def forget(name: str, offsets: str, offsets_topic: str) -> None:
    """Forget the stored position of capture NAME: its next run starts from scratch (a new
    snapshot). Drop its PostgreSQL slot too (`strom cdc drop-slot`)."""
    with open_log() as out_log:
        store = open_offsets(
            EngineSettings(name, name=name, offsets=offsets, offsets_topic=offsets_topic), out_log
        )
        try:
            store.forget()
        finally:
            store.close()
    click.echo(f"forgot the position of {name}")
