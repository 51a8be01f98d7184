"""Helpers for the event store contract suite: a store per test on each backend.

Each PostgreSQL store lives in a PostgreSQL schema of its own (dropped afterwards), so tests
share the session's server without seeing each other's events. Everything else goes through
the :class:`strom.es.EventStore` Protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

import strom.es as es

BACKENDS = ("sqlite", "postgres")


def unique_schema(prefix: str = "t") -> str:
    """A PostgreSQL schema name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextmanager
def open_store(
    backend: str, *, tmp_path: Path, postgres_dsn: str | None, **options: Any
) -> Iterator[es.EventStore]:
    """A fresh, empty store of ``backend``; dropped (PostgreSQL) or left in tmp_path after."""
    if backend == "sqlite":
        store = es.connect(f"sqlite://{tmp_path / 'events.db'}", **options)
        try:
            yield store
        finally:
            store.close()
        return
    assert postgres_dsn is not None
    schema = unique_schema()
    store = es.connect(postgres_dsn, schema=schema, **options)
    try:
        yield store
    finally:
        store.close()
        drop_schema(postgres_dsn, schema)


def drop_schema(dsn: str, schema: str) -> None:
    """Remove a test's PostgreSQL schema."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def events(*types: str, size: int = 0) -> list[es.NewEvent]:
    """NewEvents of the given types with small JSON data (or ``size`` bytes of it)."""
    body = b'{"pad":"' + b"x" * size + b'"}' if size else b'{"n":1}'
    return [es.NewEvent(t, body, es.metadata(actor="tester")) for t in types]


def sql(backend: str, query: str) -> str:
    """``query`` written with ``?`` placeholders, in the backend's placeholder style."""
    return query.replace("?", "%s") if backend == "postgres" else query
