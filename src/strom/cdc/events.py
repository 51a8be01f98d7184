"""Typed change events read back from Debezium topics (strom's own and Debezium's).

:func:`change_events` is a serde for the values of ``prefix.schema.table`` topics: it accepts
envelopes with the ``schema`` part (JsonConverter's ``schemas.enable=true``) and without, and
with the schema it turns Debezium's encodings back into Python values (Decimal from base64,
dates, times, timestamps, durations, JSON, UUIDs, bytes). Times of day decode to
``datetime.time``; a MySQL ``TIME`` outside 00:00-24:00 (it is a duration) to ``timedelta``.
:func:`change_keys` does the same for keys. A tombstone (null value) deserializes to None.

Example:
    >>> import strom
    >>> app = strom.App("orders-feed")
    >>> orders = app.topic("shop.public.orders", key=change_keys(), value=change_events())
    >>> upserts = app.stream(orders).filter(lambda e: e is not None and not e.is_delete,
    ...                                     name="upserts")
    >>> value = (b'{"before":null,"after":{"id":1},"source":{"table":"orders"},'
    ...          b'"op":"c","ts_ms":1}')
    >>> event = change_events().deserialize(value)
    >>> event.op, event.row, event.table
    ('c', {'id': 1}, 'orders')
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson

from strom.cdc.connect import DECIMAL, VARIABLE_SCALE_DECIMAL, decode_decimal
from strom.errors import SerializationError
from strom.serde._describe import preview

_EPOCH = datetime(1970, 1, 1)
_EPOCH_DATE = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One Debezium change event.

    Attributes:
        op: ``c`` create, ``u`` update, ``d`` delete, ``r`` snapshot read, ``t`` truncate.
        before: the row before the change (updates and deletes; may hold only the key).
        after: the row after the change (creates, updates, reads).
        source: where the change comes from (connector, db, schema, table, position...).
        ts_ms: when the connector processed it (epoch ms), None when absent.
        transaction: Debezium's transaction block, when the connector provides one.
    """

    op: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    source: dict[str, Any] = field(default_factory=dict)
    ts_ms: int | None = None
    transaction: dict[str, Any] | None = None

    @property
    def row(self) -> dict[str, Any] | None:
        """``after``, or ``before`` for a delete: the row the event is about."""
        return self.after if self.after is not None else self.before

    @property
    def is_delete(self) -> bool:
        """True for deletes (their tombstones deserialize to None, not to an event)."""
        return self.op == "d"

    @property
    def is_snapshot(self) -> bool:
        """True for rows read by the initial snapshot."""
        return self.op == "r"

    @property
    def table(self) -> str | None:
        """``source.table``."""
        value = self.source.get("table")
        return None if value is None else str(value)

    @property
    def database(self) -> str | None:
        """``source.db``."""
        value = self.source.get("db")
        return None if value is None else str(value)

    @property
    def schema(self) -> str | None:
        """``source.schema`` (PostgreSQL), None for MySQL."""
        value = self.source.get("schema")
        return None if value is None else str(value)


def _time_of_day(value: timedelta) -> time | timedelta:
    # A time of day within 00:00..24:00; MySQL's TIME is a duration that may lie outside it.
    if timedelta(0) <= value < timedelta(days=1):
        return (_EPOCH + value).time()
    return value


def _decode_logical(value: Any, schema: dict[str, Any] | None) -> Any:
    """A value of Debezium's JSON representation as the Python value its schema describes."""
    if value is None or schema is None:
        return value
    name = schema.get("name")
    kind = schema.get("type")
    if name == DECIMAL:
        return decode_decimal(value, int(schema.get("parameters", {}).get("scale", "0")))
    if name == VARIABLE_SCALE_DECIMAL:
        return decode_decimal(value["value"], int(value["scale"]))
    if name == "io.debezium.time.Date":
        return _EPOCH_DATE + timedelta(days=int(value))
    if name == "io.debezium.time.Time":
        return _time_of_day(timedelta(milliseconds=int(value)))
    if name == "io.debezium.time.MicroTime":
        return _time_of_day(timedelta(microseconds=int(value)))
    if name == "io.debezium.time.NanoTime":
        return _time_of_day(timedelta(microseconds=int(value) // 1000))
    if name == "io.debezium.time.Timestamp":
        return _EPOCH + timedelta(milliseconds=int(value))
    if name == "io.debezium.time.MicroTimestamp":
        return _EPOCH + timedelta(microseconds=int(value))
    if name == "io.debezium.time.NanoTimestamp":
        return _EPOCH + timedelta(microseconds=int(value) // 1000)
    if name == "io.debezium.time.ZonedTimestamp":
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if name == "io.debezium.time.ZonedTime":
        parsed = time.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if name == "io.debezium.time.MicroDuration":
        return timedelta(microseconds=int(value))
    if name == "io.debezium.data.Json":
        return orjson.loads(value) if isinstance(value, str) else value
    if name == "io.debezium.data.Uuid":
        return uuid.UUID(str(value))
    if kind == "bytes":
        return base64.b64decode(value) if isinstance(value, str) else value
    if kind == "array" and isinstance(value, list):
        return [_decode_logical(v, schema.get("items")) for v in value]
    if kind == "struct" and isinstance(value, dict):
        fields = {f["field"]: f for f in schema.get("fields", [])}
        return {k: _decode_logical(v, fields.get(k)) for k, v in value.items()}
    return value


def _row_decoder(envelope_schema: dict[str, Any], part: str) -> dict[str, Any] | None:
    for f in envelope_schema.get("fields", []):
        if f.get("field") == part:
            return f if isinstance(f, dict) else None
    return None


def parse_envelope(data: bytes, *, decode_types: bool = True) -> ChangeEvent:
    """A :class:`ChangeEvent` from envelope bytes (with or without the ``schema`` part).

    Raises:
        SerializationError: the bytes are not a Debezium envelope.
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SerializationError(f"change event {preview(data)} is not JSON: {exc}") from exc
    schema = None
    if isinstance(doc, dict) and "payload" in doc and "schema" in doc:
        schema, doc = doc["schema"], doc["payload"]
    if not isinstance(doc, dict) or "op" not in doc:
        raise SerializationError(
            f"{preview(data)} is not a Debezium change event (no 'op' field): is this a "
            "heartbeat or schema-change topic, or a converter other than JSON?"
        )
    before, after = doc.get("before"), doc.get("after")
    if decode_types and schema is not None:
        before = _decode_logical(before, _row_decoder(schema, "before"))
        after = _decode_logical(after, _row_decoder(schema, "after"))
    return ChangeEvent(
        op=str(doc["op"]),
        before=before,
        after=after,
        source=doc.get("source") or {},
        ts_ms=doc.get("ts_ms"),
        transaction=doc.get("transaction"),
    )


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value // timedelta(microseconds=1)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


class ChangeEventSerde:
    """Serde of Debezium change-event values (see :func:`change_events`)."""

    name = "debezium"

    def __init__(self, decode_types: bool = True) -> None:
        self._decode_types = decode_types

    def serialize(self, value: ChangeEvent | None) -> bytes | None:
        """The event as an envelope payload (no schema; Python values in plain JSON)."""
        if value is None:
            return None
        doc = {
            "before": value.before,
            "after": value.after,
            "source": value.source,
            "transaction": value.transaction,
            "op": value.op,
            "ts_ms": value.ts_ms,
        }
        try:
            return orjson.dumps(doc, default=_default)
        except TypeError as exc:
            raise SerializationError(
                f"debezium serde: cannot encode {preview(value)}: {exc}"
            ) from exc

    def deserialize(self, data: bytes | None) -> ChangeEvent | None:
        """The event (None for a tombstone)."""
        if data is None:
            return None
        return parse_envelope(data, decode_types=self._decode_types)


class ChangeKeySerde:
    """Serde of Debezium keys: the key struct as a dict (see :func:`change_keys`)."""

    name = "debezium-key"

    def __init__(self, decode_types: bool = True) -> None:
        self._decode_types = decode_types

    def serialize(self, value: dict[str, Any] | None) -> bytes | None:
        """The key struct as JSON (no schema part)."""
        return None if value is None else orjson.dumps(value, default=_default)

    def deserialize(self, data: bytes | None) -> dict[str, Any] | None:
        """The key struct (None for a record without key, e.g. a truncate)."""
        if data is None:
            return None
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SerializationError(f"change key {preview(data)} is not JSON: {exc}") from exc
        if isinstance(doc, dict) and "payload" in doc and "schema" in doc:
            schema, doc = doc["schema"], doc["payload"]
            if self._decode_types and isinstance(doc, dict):
                doc = _decode_logical(doc, schema)
        if not isinstance(doc, dict):
            raise SerializationError(f"change key {preview(data)} is not a JSON object")
        return doc


def change_events(*, decode_types: bool = True) -> ChangeEventSerde:
    """Serde of Debezium change-event values: bytes → :class:`ChangeEvent` (None for tombstones).

    Args:
        decode_types: with the envelope's schema, turn Debezium's encodings into Python values
            (``Decimal``, ``date``, ``datetime``, ``timedelta``, parsed JSON, ``UUID``, ``bytes``).
    """
    return ChangeEventSerde(decode_types)


def change_keys(*, decode_types: bool = True) -> ChangeKeySerde:
    """Serde of Debezium keys: bytes → the key struct as a dict."""
    return ChangeKeySerde(decode_types)


class PrimaryKeySerde:
    """Debezium keys as a hashable primary key: the column's value for a one-column key, a
    tuple of the values (in the key's column order) for a composite one; written back as
    JSON (a value, or an array)."""

    name = "primary-key"

    def __init__(self) -> None:
        self._keys = ChangeKeySerde(decode_types=False)

    def serialize(self, value: Any) -> bytes | None:
        """The key as JSON."""
        if value is None:
            return None
        return orjson.dumps(list(value) if isinstance(value, tuple) else value, default=_default)

    def deserialize(self, data: bytes | None) -> Any:
        """The primary key of a Debezium key (JSON, with or without its schema part)."""
        doc = self._keys.deserialize(data)
        if doc is None:
            return None
        values = tuple(doc.values())
        return values[0] if len(values) == 1 else values


def _row(event: ChangeEvent | None) -> dict[str, Any] | None:
    return None if event is None or event.is_delete else event.after


def table(app: Any, topic: Any, *, name: str | None = None) -> Any:
    """The latest row per primary key of a Debezium change topic (strom's or Debezium's own),
    as a :class:`strom.dsl.table.Table`: an insert or update sets the row, a delete (and its
    tombstone) removes it. Rows keep Debezium's JSON encodings (``decode_types=False``), so
    they are stored as JSON.

    Args:
        app: the :class:`strom.App`.
        topic: the change topic's name (declared with the right serdes), or a Topic already
            declared with ``key=PrimaryKeySerde()`` and ``value=change_events(...)``.
        name: the table's step and store name (default ``{topic}-rows``).

    Example:
        >>> import strom, strom.cdc
        >>> app = strom.App("docs-cdc-table")
        >>> orders = strom.cdc.table(app, "shop.public.orders")
        >>> orders.name
        'shop.public.orders-rows'
    """
    declared = (
        app.topic(topic, key=PrimaryKeySerde(), value=change_events(decode_types=False))
        if isinstance(topic, str)
        else topic
    )
    base = name or f"{declared.name}-rows"
    rows = app.stream(declared).map(_row, name=f"{base}-after")
    return rows.to_table(name=base)
