"""Tables and the append function of the PostgreSQL event store, in one schema of their own.

The global order: ``log`` is a one-row table. An append updates it (position += n) after the
stream's version check and before inserting its events, so its row lock is held until the
append commits. Appends therefore take positions in commit order, positions are dense (a
rolled-back append rolls its increment back too), and a reader that sees position ``n`` sees
every position below ``n``: no sequence gaps, nothing for a reader to skip. Commits become
visible before their locks are released, so the next appender's positions always follow
visible ones. The alternative, a sequence plus each row's transaction id read below
``pg_snapshot_xmin(pg_current_snapshot())``, lets writers commit concurrently but makes every
reader wait for the oldest open transaction of the whole server; ``bench/es/ordering.py``
measures both (docs/event-sourcing.md has the figures and the reasoning).

The one-round-trip append is a PL/pgSQL function: check, lock, number, insert, notify.
"""

from __future__ import annotations

import re

from strom.es.errors import InvalidEventError

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


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
            version bigint NOT NULL,
            updated bigint NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {s}.snapshots (
            stream_id text NOT NULL,
            type text NOT NULL,
            schema_version integer NOT NULL,
            version bigint NOT NULL,
            recorded_at bigint NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (stream_id, type, schema_version, version))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.checkpoints (
            name text PRIMARY KEY,
            position bigint NOT NULL,
            updated bigint NOT NULL)""",
        # fillfactor leaves room on the page for HOT updates of the single row.
        f"""CREATE TABLE IF NOT EXISTS {s}.log (
            id integer PRIMARY KEY CHECK (id = 1),
            position bigint NOT NULL,
            recorded_at bigint NOT NULL) WITH (fillfactor = 20)""",
        f"INSERT INTO {s}.log VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING",
        append_function(s),
    ]


def append_function(s: str) -> str:
    """``append_events``: returns (ok, stream version, last position); ok is false on a
    version conflict, with the stream's actual version. Expected: >= 0 exact (0 = no stream),
    -1 any, -2 stream exists. A new stream's row is inserted after the order lock: two
    creators of one stream race on its key, the loser gets unique_violation and the client
    retries, now finding the row."""
    return f"""
CREATE OR REPLACE FUNCTION {s}.append_events(
    p_stream text, p_expected bigint, p_ids uuid[], p_types text[], p_type_versions integer[],
    p_data bytea[], p_metadata bytea[],
    p_snap_type text DEFAULT NULL, p_snap_schema integer DEFAULT NULL,
    p_snap_data bytea DEFAULT NULL)
RETURNS TABLE (ok boolean, stream_version bigint, last_position bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_n integer := coalesce(cardinality(p_ids), 0);
    v_current bigint;
    v_exists boolean;
    v_position bigint;
    v_ts bigint;
BEGIN
    SELECT st.version INTO v_current FROM {s}.streams st
        WHERE st.stream_id = p_stream FOR UPDATE;
    v_exists := FOUND;
    IF NOT v_exists THEN
        v_current := 0;
    END IF;
    IF (p_expected = -2 AND v_current = 0) OR (p_expected >= 0 AND v_current <> p_expected) THEN
        RETURN QUERY SELECT false, v_current, 0::bigint;
        RETURN;
    END IF;
    IF v_n = 0 THEN
        IF p_snap_data IS NOT NULL AND v_current > 0 THEN
            INSERT INTO {s}.snapshots (stream_id, type, schema_version, version, recorded_at, data)
                SELECT p_stream, p_snap_type, p_snap_schema, v_current, st.updated, p_snap_data
                FROM {s}.streams st WHERE st.stream_id = p_stream
                ON CONFLICT (stream_id, type, schema_version, version)
                DO UPDATE SET data = excluded.data;
        END IF;
        RETURN QUERY SELECT true, v_current, (SELECT lg.position FROM {s}.log lg);
        RETURN;
    END IF;
    UPDATE {s}.log lg SET position = lg.position + v_n,
        recorded_at = greatest(lg.recorded_at,
                               (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
        RETURNING lg.position, lg.recorded_at INTO v_position, v_ts;
    IF v_exists THEN
        UPDATE {s}.streams st SET version = v_current + v_n, updated = v_ts
            WHERE st.stream_id = p_stream;
    ELSE
        INSERT INTO {s}.streams (stream_id, version, updated) VALUES (p_stream, v_n, v_ts);
    END IF;
    INSERT INTO {s}.events (position, stream_id, version, id, type, type_version,
                            recorded_at, data, metadata)
        SELECT v_position - v_n + e.i, p_stream, v_current + e.i, e.id, e.type, e.tv,
               v_ts, e.data, e.meta
        FROM unnest(p_ids, p_types, p_type_versions, p_data, p_metadata)
             WITH ORDINALITY AS e(id, type, tv, data, meta, i);
    IF p_snap_data IS NOT NULL THEN
        INSERT INTO {s}.snapshots (stream_id, type, schema_version, version, recorded_at, data)
            VALUES (p_stream, p_snap_type, p_snap_schema, v_current + v_n, v_ts, p_snap_data)
            ON CONFLICT (stream_id, type, schema_version, version)
            DO UPDATE SET data = excluded.data, recorded_at = excluded.recorded_at;
    END IF;
    PERFORM pg_notify('{channel(s)}', v_position::text);
    RETURN QUERY SELECT true, v_current + v_n, v_position;
END
$fn$"""
