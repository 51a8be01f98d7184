"""The embedded event store on SQLite (standard library): see :mod:`strom.es.sqlite.store`."""

from strom.es.sqlite.store import SqliteEventStore

__all__ = ["SqliteEventStore"]
