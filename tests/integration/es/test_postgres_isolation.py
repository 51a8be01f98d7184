"""The PostgreSQL store's order needs READ COMMITTED (a fresh snapshot per statement of its
append function): it sets it on its connections even when the role defaults to another."""

from __future__ import annotations

import uuid

import psycopg
import pytest

import strom.es as es
from strom.es.postgres import PostgresEventStore
from tests.contract.event_store_support import drop_schema, unique_schema

pytestmark = pytest.mark.postgres


def test_store_connections_use_read_committed_whatever_the_role_default(postgres_dsn: str) -> None:
    role = f"es_iso_{uuid.uuid4().hex[:8]}"
    schema = unique_schema("iso")
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN SUPERUSER")
        admin.execute(f"ALTER ROLE {role} SET default_transaction_isolation = 'repeatable read'")
    dsn = psycopg.conninfo.make_conninfo(postgres_dsn, user=role)
    try:
        with psycopg.connect(dsn) as plain:
            assert plain.execute("SHOW transaction_isolation").fetchone() == ("repeatable read",)
        store = PostgresEventStore(dsn, schema=schema)
        try:
            with store.transaction() as tx:
                assert tx.execute("SHOW transaction_isolation").fetchone() == ("read committed",)
            store.append("s", [es.NewEvent("A", b"{}")], es.NO_STREAM)
            assert store.stream_version("s") == 1
        finally:
            store.close()
    finally:
        drop_schema(postgres_dsn, schema)
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")
