"""Tables of the embedded (SQLite) event store.

Appends read the last event (position and timestamp) under SQLite's write lock and number
after it, so positions are dense and timestamps never decrease along them.
"""

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events ("
    " position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, version INTEGER NOT NULL,"
    " id BLOB NOT NULL, type TEXT NOT NULL, type_version INTEGER NOT NULL,"
    " recorded_at INTEGER NOT NULL, data BLOB NOT NULL, metadata BLOB NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS events_stream_version ON events (stream_id, version)",
    "CREATE TABLE IF NOT EXISTS streams (stream_id TEXT PRIMARY KEY, created INTEGER NOT NULL)"
    " WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS snapshots ("
    " stream_id TEXT NOT NULL, type TEXT NOT NULL, schema_version INTEGER NOT NULL,"
    " version INTEGER NOT NULL, recorded_at INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (stream_id, type, schema_version, version)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS checkpoints ("
    " name TEXT PRIMARY KEY, position INTEGER NOT NULL, updated INTEGER NOT NULL) WITHOUT ROWID",
)
