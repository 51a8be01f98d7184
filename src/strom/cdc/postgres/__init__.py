"""PostgreSQL change capture: logical replication with ``pgoutput``."""

from strom.cdc.postgres.source import PostgresSource

__all__ = ["PostgresSource"]
