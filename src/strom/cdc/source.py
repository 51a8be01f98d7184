"""The interface every capture source implements, and the settings they share.

A source reads one database: an optional initial snapshot, then the change stream. It never
writes to the log itself: :class:`strom.cdc.engine.CdcEngine` does, and calls
:meth:`Source.acknowledge` only after the log acknowledged every change before a checkpoint and
the position is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from strom.cdc.model import Item
from strom.errors import ConfigError

SnapshotMode = Literal["initial", "never"]
"""``initial``: snapshot the tables when there is no stored position; ``never``: stream only."""

MissingKey = Literal["fail", "none", "all-columns"]
"""What to do with a table without a primary key: refuse it (``fail``), write records without
a key (``none``, as Debezium does), or use every column as the key (``all-columns``)."""


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """Settings every source understands.

    Attributes:
        tables: ``schema.table`` names to capture (MySQL: ``database.table``).
        snapshot: :data:`SnapshotMode`.
        missing_key: :data:`MissingKey`.
        snapshot_fetch: rows fetched per round trip during a snapshot.
    """

    tables: tuple[str, ...]
    snapshot: SnapshotMode = "initial"
    missing_key: MissingKey = "fail"
    snapshot_fetch: int = 2000

    def __post_init__(self) -> None:
        if not self.tables:
            raise ConfigError("cdc: name at least one table to capture (schema.table)")
        for name in self.tables:
            if name.count(".") != 1 or not all(name.split(".")):
                raise ConfigError(
                    f"cdc: table {name!r} must be written schema.table (database.table on MySQL)"
                )
        if self.snapshot not in ("initial", "never"):
            raise ConfigError(f"cdc: snapshot must be 'initial' or 'never', got {self.snapshot!r}")
        if self.missing_key not in ("fail", "none", "all-columns"):
            raise ConfigError(
                "cdc: missing_key must be 'fail', 'none' or 'all-columns', "
                f"got {self.missing_key!r}"
            )
        if self.snapshot_fetch < 1:
            raise ConfigError(f"cdc: snapshot_fetch must be >= 1, got {self.snapshot_fetch}")


def split_tables(tables: Sequence[str] | str) -> tuple[str, ...]:
    """Table names from a list or a comma-separated string.

    Example:
        >>> split_tables("public.orders, public.users")
        ('public.orders', 'public.users')
    """
    items = tables.split(",") if isinstance(tables, str) else list(tables)
    return tuple(name.strip() for name in items if name.strip())


@runtime_checkable
class Source(Protocol):
    """A change capture source (PostgreSQL logical replication, MySQL binlog)."""

    connector: str
    """Debezium's connector name: ``postgresql`` or ``mysql``."""

    database: str
    """The database name written to ``source.db``."""

    def start(self, stored: dict[str, Any] | None) -> None:
        """Connect and position the source: at ``stored`` (a position this source acknowledged
        before), or from scratch (snapshot first, when configured) when it is None."""
        ...

    def poll(self, max_items: int, timeout: float) -> list[Item]:
        """Up to ``max_items`` changes and checkpoints, in commit order; waits at most
        ``timeout`` seconds when nothing is available."""
        ...

    def acknowledge(self, position: dict[str, Any]) -> None:
        """Everything up to ``position`` is in the log and stored: the database may forget it
        (PostgreSQL: ``flush_lsn`` feedback to the slot)."""
        ...

    def close(self) -> None:
        """Release connections; never drops the slot or the publication."""
        ...
