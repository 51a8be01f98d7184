"""The PostgreSQL test server (scripts/services/postgres.py) suits the event store and CDC."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.postgres


def test_server_is_set_up_for_the_event_store_and_logical_replication(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, connect_timeout=10) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (["wal_level", "max_replication_slots", "max_wal_senders", "listen_addresses"],),
            ).fetchall()
        )
        role = conn.execute(
            "SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert conn.execute("SELECT current_database()").fetchone() == ("strom",)
    assert settings["wal_level"] == "logical"
    assert int(settings["max_replication_slots"]) >= 10
    assert int(settings["max_wal_senders"]) >= 10
    assert settings["listen_addresses"] == "127.0.0.1"
    assert role == (True, True)


def test_replication_connections_are_accepted_over_tcp(postgres_dsn: str) -> None:
    # pg_hba.conf's "host replication" line: a walsender connection from 127.0.0.1.
    with psycopg.connect(
        postgres_dsn, replication="database", autocommit=True, connect_timeout=10
    ) as conn:
        system = conn.execute("IDENTIFY_SYSTEM").fetchone()
    assert system is not None and system[3] == "strom"
