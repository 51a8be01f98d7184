"""The Avro serde: schemaless Avro binary (fastavro), optionally in Confluent's wire format.

What exists, exactly: strom has **no Schema Registry client**. It does not register schemas,
look ids up, or check compatibility against a registry. With ``wire_format_schema_id`` the
payload is framed as Confluent's serializers frame it: magic byte 0, the 4-byte big-endian
schema id, then the Avro binary. The id is the one you give, fixed for the serde: use the id
your registry assigned to this writer schema, and records interoperate with Confluent's
serializers for that schema. Decoding checks the magic byte and the id, so data written with
any other schema id is refused (reading several registered versions by their ids is not
supported) instead of decoding into garbage. Needs the ``avro`` extra.

Example:
    >>> from strom.serde import avro
    >>> schema = {"type": "record", "name": "User",
    ...           "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"}]}
    >>> serde = avro(schema)
    >>> serde.serialize({"id": 1, "name": "ada"})
    b'\\x02\\x06ada'
    >>> serde.deserialize(b'\\x02\\x06ada')
    {'id': 1, 'name': 'ada'}
    >>> framed = avro(schema, wire_format_schema_id=42)
    >>> framed.serialize({"id": 1, "name": "ada"})
    b'\\x00\\x00\\x00\\x00*\\x02\\x06ada'
"""

from __future__ import annotations

import struct
from io import BytesIO
from typing import Any

from strom.errors import ConfigError, SerializationError
from strom.serde._describe import preview
from strom.serde.avro_compat import check_avro_compatible, parse_avro_schema
from strom.serde.base import Serde
from strom.serde.extras import require

fastavro = require("fastavro", "avro", "the avro serde")

MAGIC_BYTE = 0
"""First byte of Confluent's Schema Registry wire format."""

_HEADER = struct.Struct(">bI")
_HEADER_SIZE = _HEADER.size


class AvroSerde:
    """Avro binary for one writer schema (and optionally another reader schema)."""

    __slots__ = ("_header", "_reader", "_schema_id", "_skip", "_writer", "name")

    def __init__(self, writer: Any, reader: Any, schema_id: int | None) -> None:
        self._writer = writer
        self._reader = reader
        self._schema_id = schema_id
        self._header = b"" if schema_id is None else _HEADER.pack(MAGIC_BYTE, schema_id)
        self._skip = len(self._header)
        self.name = "avro"

    def serialize(self, value: Any) -> bytes | None:
        """``value`` (a dict for a record schema) as Avro binary, framed when configured."""
        if value is None:
            return None
        out = BytesIO()
        out.write(self._header)
        try:
            fastavro.schemaless_writer(out, self._writer, value)
        except Exception as exc:  # fastavro reports bad values as TypeError/ValueError/KeyError...
            raise SerializationError(
                f"avro serde: {preview(value)} does not match the schema: {_reason(exc)}"
            ) from exc
        return out.getvalue()

    def deserialize(self, data: bytes | None) -> Any:
        """The value in ``data``, read with the writer schema (resolved to the reader's)."""
        if data is None:
            return None
        if self._skip and data[: self._skip] != self._header:
            self._bad_header(data)
        buf = BytesIO(data)
        buf.seek(self._skip)
        try:
            value = fastavro.schemaless_reader(buf, self._writer, self._reader)
        except EOFError:
            raise SerializationError(
                f"avro serde: {preview(data)} ends before the Avro value does (truncated, or "
                "written with another schema)"
            ) from None
        except Exception as exc:  # fastavro: UnicodeDecodeError, SchemaResolutionError, ...
            raise SerializationError(
                f"avro serde: cannot read {preview(data)} with the schema: {_reason(exc)}"
            ) from exc
        if buf.tell() != len(data):
            raise SerializationError(
                f"avro serde: {len(data) - buf.tell()} bytes left over after the Avro value in "
                f"{preview(data)}; it was written with another schema"
            )
        return value

    def _bad_header(self, data: bytes) -> None:
        if len(data) < _HEADER_SIZE:
            raise SerializationError(
                f"avro serde: {preview(data)} is shorter than the 5-byte Schema Registry header "
                f"(magic byte 0 + schema id {self._schema_id})"
            )
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            raise SerializationError(
                f"avro serde: wrong magic byte {data[0]:#04x} in {preview(data)}: expected "
                f"{MAGIC_BYTE:#04x} (Confluent wire format); the data was not written by a "
                "Schema Registry serializer"
            )
        raise SerializationError(
            f"avro serde: the data was written with schema id {schema_id}, this serde reads "
            f"schema id {self._schema_id} only (wire_format_schema_id; strom has no Schema "
            "Registry client to look other ids up)"
        )


def _reason(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def avro(
    schema: Any,
    *,
    wire_format_schema_id: int | None = None,
    reader_schema: Any = None,
) -> Serde[Any]:
    """Avro binary for ``schema`` (a dict, a list for a union, or its JSON text).

    Args:
        schema: the writer schema; parsed once, here.
        wire_format_schema_id: frame payloads in Confluent's wire format with this fixed
            schema id (no registry is contacted; payloads with another id are refused).
        reader_schema: decode into this schema instead (schema evolution). It must be able
            to read everything ``schema`` writes, which is checked here.

    Raises:
        ConfigError: a schema is invalid, the two schemas are incompatible, or the id is not
            a 32-bit unsigned integer.

    Example:
        >>> v1 = {"type": "record", "name": "U", "fields": [{"name": "id", "type": "int"}]}
        >>> v2 = {"type": "record", "name": "U", "fields": [
        ...     {"name": "id", "type": "long"}, {"name": "tier", "type": "string",
        ...     "default": "free"}]}
        >>> avro(v1, reader_schema=v2).deserialize(avro(v1).serialize({"id": 7}))
        {'id': 7, 'tier': 'free'}
    """
    writer, _ = parse_avro_schema(schema, "schema")
    reader = None
    if reader_schema is not None:
        check_avro_compatible(schema, reader_schema)
        reader, _ = parse_avro_schema(reader_schema, "reader schema")
    schema_id = wire_format_schema_id
    if schema_id is not None and (
        isinstance(schema_id, bool)
        or not isinstance(schema_id, int)
        or not 0 <= schema_id < 1 << 32
    ):
        raise ConfigError(
            f"avro serde: wire_format_schema_id must be an integer in 0..{(1 << 32) - 1}, "
            f"got {schema_id!r}"
        )
    return AvroSerde(writer, reader, schema_id)
