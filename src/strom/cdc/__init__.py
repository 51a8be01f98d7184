"""Change data capture: database changes as Debezium-compatible change events.

Sources: PostgreSQL (logical replication, ``pgoutput``) and MySQL/MariaDB (the binlog). The
engine writes one topic per table (``prefix.schema.table``), keyed by primary key, in
Debezium's JSON envelope, to Kafka or the embedded log, at-least-once with no loss: a position
is acknowledged to the database only after the log holds every change before it. Debezium's
own topics read back with the same serdes. See docs/cdc.md.

Example:
    >>> import strom, strom.cdc, tempfile
    >>> engine = strom.cdc.capture("postgresql://strom@db:5432/shop", "public.orders",
    ...                            to="local://" + tempfile.mkdtemp(), prefix="shop")
    >>> type(engine).__name__
    'CdcEngine'
    >>> app = strom.App("order-feed")
    >>> orders = app.topic("shop.public.orders", key=strom.cdc.change_keys(),
    ...                    value=strom.cdc.change_events())
"""

from strom.cdc.capture import capture, open_source
from strom.cdc.engine import CdcEngine, EngineSettings
from strom.cdc.errors import (
    CdcError,
    MissingKeyError,
    PositionLostError,
    PublicationError,
    SlotInUseError,
    SourceUnavailableError,
)
from strom.cdc.events import ChangeEvent, change_events, change_keys, parse_envelope, table
from strom.cdc.model import Change, Checkpoint, Table, TableColumn
from strom.cdc.offsets import FileOffsetStore, LogOffsetStore
from strom.cdc.source import SourceSettings

__all__ = [
    "CdcEngine",
    "CdcError",
    "Change",
    "ChangeEvent",
    "Checkpoint",
    "EngineSettings",
    "FileOffsetStore",
    "LogOffsetStore",
    "MissingKeyError",
    "PositionLostError",
    "PublicationError",
    "SlotInUseError",
    "SourceSettings",
    "SourceUnavailableError",
    "Table",
    "TableColumn",
    "capture",
    "change_events",
    "change_keys",
    "open_source",
    "parse_envelope",
    "table",
]
