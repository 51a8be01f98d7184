"""Change data capture: database changes as Debezium-compatible change events.

Sources: PostgreSQL (logical replication, ``pgoutput``) and MySQL/MariaDB (the binlog). The
engine writes one topic per table (``prefix.schema.table``), keyed by primary key, in
Debezium's JSON envelope, to Kafka or the embedded log, at-least-once with no loss.
"""
