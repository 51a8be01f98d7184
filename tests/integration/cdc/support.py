"""Helpers of the CDC integration tests: SQL, engines in threads, reading topics back."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg2

import strom.log
from strom.cdc.engine import CdcEngine, EngineSettings
from strom.cdc.postgres import PostgresSource
from strom.cdc.source import SourceSettings
from strom.errors import TopicNotFoundError
from strom.log import TopicPartition


def uid() -> str:
    return uuid.uuid4().hex[:8]


def pg_exec(dsn: str, *statements: str, params: tuple[Any, ...] | None = None) -> None:
    """Run statements in one autocommit session (each its own transaction)."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement, params)
    finally:
        conn.close()


def pg_tx(dsn: str, *statements: str) -> None:
    """Run statements in one transaction."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def pg_query(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall())
    finally:
        conn.close()


def drop_slot(dsn: str, slot: str, publication: str | None = None) -> None:
    """Drop a slot (waiting for its process to go) and a publication, if they exist."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = pg_query(
            dsn, "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        )
        if not rows:
            break
        if not rows[0][0]:
            pg_exec(dsn, f"SELECT pg_drop_replication_slot('{slot}')")
            break
        time.sleep(0.2)
    if publication:
        pg_exec(dsn, f"DROP PUBLICATION IF EXISTS {publication}")


def wait_slot_active(dsn: str, slot: str, timeout: float = 30) -> None:
    """Wait until a capture streams from ``slot``."""
    query = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s AND active"
    wait_for(lambda: pg_query(dsn, query, (slot,))[0][0] == 1, timeout, f"slot {slot} active")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


Read = list[tuple[Any, Any, dict[str, bytes]]]


def read_topic(url: str, topic: str, timeout: float = 10.0) -> Read:
    """Every record of a one-partition topic as (key JSON, value JSON, headers)."""
    log = strom.log.connect(url)
    try:
        try:
            log.admin().describe_topic(topic)  # list_topics() hides "__" names
        except TopicNotFoundError:
            return []
        consumer = log.consumer()
        tp = TopicPartition(topic, 0)
        _, high = consumer.watermarks(tp)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        out: Read = []
        deadline = time.monotonic() + timeout
        while len(out) < high and time.monotonic() < deadline:
            for r in consumer.poll(1000, timeout=0.5):
                out.append(
                    (
                        None if r.key is None else orjson.loads(r.key),
                        None if r.value is None else orjson.loads(r.value),
                        dict(r.headers),
                    )
                )
        consumer.close()
        return out
    finally:
        log.close()


@contextmanager
def running(engine: CdcEngine) -> Iterator[CdcEngine]:
    """Run an engine in a thread; stop it (final checkpoint) on exit, re-raising its error."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            engine.run()
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield engine
    finally:
        engine.stop()
        thread.join(60)
    if errors:
        raise errors[0]


def pg_engine(
    dsn: str, url: str, tables: list[str], *, slot: str, prefix: str = "app", **settings: Any
) -> CdcEngine:
    source_keys = {"snapshot", "missing_key", "snapshot_fetch"}
    source_settings = SourceSettings(
        tables=tuple(tables), **{k: v for k, v in settings.items() if k in source_keys}
    )
    pg_keys = {"publication", "create_publication"}
    source = PostgresSource(
        dsn, source_settings, slot=slot, **{k: v for k, v in settings.items() if k in pg_keys}
    )
    engine_settings = EngineSettings(
        prefix,
        **{k: v for k, v in settings.items() if k not in source_keys | pg_keys},
    )
    return CdcEngine(source, url, engine_settings)


def payloads(records: list[tuple[Any, Any, dict[str, bytes]]]) -> list[Any]:
    """The value payloads (None for tombstones) of records written with schemas."""
    return [None if v is None else v["payload"] for _, v, _ in records]
