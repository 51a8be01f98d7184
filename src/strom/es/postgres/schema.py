"""Tables and the append function of the PostgreSQL event store, in one schema of their own.

The global order: ``log`` is a one-row table holding the last position and timestamp. Every
append first updates it (position += n), so that row's lock is held until the append
commits; then, with a fresh snapshot, it reads the stream's version and checks the expected
version (a mismatch raises, rolling the increment back), and numbers its events from the old
position. Appends therefore commit one at a time in position order, positions are dense (a
rolled-back append rolls its increment back), and a reader that sees position ``n`` sees
every position below ``n``: no sequence gaps, nothing for a reader to skip. This holds
because PostgreSQL makes a commit visible before it releases the transaction's locks, and
each statement of the (VOLATILE, READ COMMITTED) function takes a fresh snapshot, so the next
appender sees every event before its own. The alternatives (a sequence plus each row's
transaction id read below ``pg_snapshot_xmin(pg_current_snapshot())``; an advisory lock)
are measured by ``bench/es/ordering.py``; docs/event-sourcing.md has the figures and the
reasoning.

The one-round-trip append is a PL/pgSQL function: lock and number, check, insert, notify.
"""

from __future__ import annotations

import re

from strom.es.errors import InvalidEventError

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
CONFLICT_SQLSTATE = "SE409"
"""Raised by the append function on a version mismatch; the message is the actual version."""


def check_schema(name: str) -> str:
    """``name`` if usable as the store's schema (lower-case identifier), else an error."""
    if not isinstance(name, str) or not SCHEMA_NAME.match(name):
        raise InvalidEventError(
            f"PostgreSQL schema name must be a lower-case identifier of at most 41 characters "
            f"(letters, digits, _), got {name!r}"
        )
    return name


def channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel appends to ``schema`` notify."""
    return f"{schema}_appended"


def ddl(schema: str) -> list[str]:
    """Statements creating the store in ``schema`` (idempotent)."""
    s = check_schema(schema)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""CREATE TABLE IF NOT EXISTS {s}.events (
            position bigint PRIMARY KEY,
            stream_id text NOT NULL,
            version bigint NOT NULL,
            id uuid NOT NULL,
            type text NOT NULL,
            type_version integer NOT NULL,
            recorded_at bigint NOT NULL,
            data bytea NOT NULL,
            metadata bytea NOT NULL,
            UNIQUE (stream_id, version))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.streams (
            stream_id text PRIMARY KEY,
            created bigint NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {s}.snapshots (
            stream_id text NOT NULL,
            type text NOT NULL,
            schema_version integer NOT NULL,
            version bigint NOT NULL,
            recorded_at bigint NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (stream_id, type, schema_version, version))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.log (
            id integer PRIMARY KEY CHECK (id = 1),
            position bigint NOT NULL,
            recorded_at bigint NOT NULL) WITH (fillfactor = 20)""",
        f"INSERT INTO {s}.log VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING",
        f"""CREATE TABLE IF NOT EXISTS {s}.checkpoints (
            name text PRIMARY KEY,
            position bigint NOT NULL,
            updated bigint NOT NULL)""",
        append_function(s),
        append_function(s, single=True),
    ]


def append_function(s: str, *, single: bool = False) -> str:
    """``append_events`` (events as arrays), or with ``single`` ``append_event`` (one event
    as plain parameters: cheaper to send than five one-element arrays). Returns (ok, stream
    version, last position), or raises CONFLICT_SQLSTATE with the stream's actual version as
    the message. Expected: >= 0 exact
    (0 = no stream), -1 any, -2 stream exists. Everything after the order lock reads with a
    fresh snapshot (one per statement: the function is VOLATILE and runs in READ COMMITTED),
    so it sees every append that held the lock before."""
    if single:
        name, events_params, count = (
            "append_event",
            "p_id uuid, p_type text, p_type_version integer, p_data bytea, p_metadata bytea",
            "1",
        )
        insert_source = (
            "VALUES (v_last + 1, p_stream, v_current + 1, p_id, p_type, p_type_version, v_ts, "
            "p_data, p_metadata)"
        )
    else:
        name, events_params, count = (
            "append_events",
            "p_ids uuid[], p_types text[], p_type_versions integer[], p_data bytea[], "
            "p_metadata bytea[]",
            "coalesce(cardinality(p_ids), 0)",
        )
        insert_source = (
            "SELECT v_last + e.i, p_stream, v_current + e.i, e.id, e.type, e.tv, v_ts, e.data, "
            "e.meta FROM unnest(p_ids, p_types, p_type_versions, p_data, p_metadata) "
            "WITH ORDINALITY AS e(id, type, tv, data, meta, i)"
        )
    return f"""
CREATE OR REPLACE FUNCTION {s}.{name}(
    p_stream text, p_expected bigint, {events_params},
    p_snap_type text DEFAULT NULL, p_snap_schema integer DEFAULT NULL,
    p_snap_data bytea DEFAULT NULL)
RETURNS TABLE (ok boolean, stream_version bigint, last_position bigint)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_n integer := {count};
    v_current bigint;
    v_last bigint;
    v_last_ts bigint;
    v_ts bigint;
BEGIN
    UPDATE {s}.log lg SET position = lg.position + v_n,
        recorded_at = greatest(lg.recorded_at,
                               (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
        RETURNING lg.position - v_n, lg.recorded_at INTO v_last, v_ts;
    SELECT coalesce(max(ev.version), 0) INTO v_current FROM {s}.events ev
        WHERE ev.stream_id = p_stream;
    IF (p_expected = -2 AND v_current = 0) OR (p_expected >= 0 AND v_current <> p_expected) THEN
        -- Rolls the position increment back with the transaction: positions stay dense.
        RAISE EXCEPTION USING ERRCODE = '{CONFLICT_SQLSTATE}', MESSAGE = v_current::text;
    END IF;
    IF v_n = 0 THEN
        IF p_snap_data IS NOT NULL AND v_current > 0 THEN
            INSERT INTO {s}.snapshots (stream_id, type, schema_version, version, recorded_at, data)
                SELECT p_stream, p_snap_type, p_snap_schema, v_current, ev.recorded_at, p_snap_data
                FROM {s}.events ev WHERE ev.stream_id = p_stream AND ev.version = v_current
                ON CONFLICT (stream_id, type, schema_version, version)
                DO UPDATE SET data = excluded.data;
        END IF;
        RETURN QUERY SELECT true, v_current, v_last;
        RETURN;
    END IF;
    IF v_current = 0 THEN
        INSERT INTO {s}.streams (stream_id, created) VALUES (p_stream, v_ts)
            ON CONFLICT (stream_id) DO NOTHING;
    END IF;
    INSERT INTO {s}.events (position, stream_id, version, id, type, type_version,
                            recorded_at, data, metadata)
        {insert_source};
    IF p_snap_data IS NOT NULL THEN
        INSERT INTO {s}.snapshots (stream_id, type, schema_version, version, recorded_at, data)
            VALUES (p_stream, p_snap_type, p_snap_schema, v_current + v_n, v_ts, p_snap_data)
            ON CONFLICT (stream_id, type, schema_version, version)
            DO UPDATE SET data = excluded.data, recorded_at = excluded.recorded_at;
    END IF;
    PERFORM pg_notify('{channel(s)}', (v_last + v_n)::text);
    RETURN QUERY SELECT true, v_current + v_n, v_last + v_n;
END
$fn$"""
