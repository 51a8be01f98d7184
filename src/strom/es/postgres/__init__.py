"""The PostgreSQL event store (psycopg 3): see :mod:`strom.es.postgres.store`."""

from strom.es.postgres.store import PostgresEventStore

__all__ = ["PostgresEventStore"]
