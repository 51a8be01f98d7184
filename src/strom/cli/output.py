"""How ``strom consume`` prints records: value, kv, json (one object per line) or a table."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from strom.cli.common import CommandError, print_table, stdout_console
from strom.errors import SerializationError
from strom.log import Record
from strom.serde import Serde, deserialize_record

FORMATS = ("value", "kv", "json", "table")


def text(data: bytes | None) -> str | None:
    """``data`` as text: UTF-8, with bytes that are not UTF-8 escaped as ``\\xNN`` (as kcat
    shows them), so any record prints.

    Example:
        >>> text(b"caf\\xc3\\xa9 \\xff")
        'café \\\\xff'
    """
    return None if data is None else data.decode("utf-8", "backslashreplace")


def json_or_text(data: bytes | None) -> Any:
    """The JSON value in ``data`` when it is valid JSON, else :func:`text` of it.

    Example:
        >>> json_or_text(b'{"a": [1, 2]}'), json_or_text(b"user-1")
        ({'a': [1, 2]}, 'user-1')
    """
    if data is None:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return text(data)


class Decoder:
    """Deserializes a record's key and value, naming the record and the fix on failure.

    A serde of None is the default: :func:`text`, and in JSON output :func:`json_or_text`
    for values.
    """

    __slots__ = ("_key", "_value")

    def __init__(self, key: Serde[Any] | None, value: Serde[Any] | None) -> None:
        self._key = key
        self._value = value

    def key(self, record: Record) -> Any:
        """The record's key, deserialized."""
        if self._key is None:
            return text(record.key)
        return self._decode(self._key, record.key, record, "key")

    def value(self, record: Record) -> Any:
        """The record's value, deserialized."""
        if self._value is None:
            return text(record.value)
        return self._decode(self._value, record.value, record, "value")

    def json_value(self, record: Record) -> Any:
        """The record's value for JSON output: by default, JSON stays JSON."""
        if self._value is None:
            return json_or_text(record.value)
        return self.value(record)

    @staticmethod
    def _decode(serde: Serde[Any], data: bytes | None, record: Record, field: str) -> Any:
        try:
            return deserialize_record(
                serde,
                data,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                field=field,
            )
        except SerializationError as exc:
            raise CommandError(
                f"{exc}. Leave out --{field}-deserializer to print it as text (bytes that are "
                f"not UTF-8 escaped), or pass --{field}-deserializer bytes."
            ) from exc


def as_bytes(value: Any) -> bytes:
    """A deserialized key or value as output bytes: raw bytes, text, or compact JSON."""
    if value is None:
        return b"null"
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value)


def _json_field(value: Any) -> Any:
    # JSON has no bytes: the bytes deserializer's output is written as base64 text.
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _header_pairs(record: Record) -> list[list[str]]:
    return [[name, value.decode("utf-8", "backslashreplace")] for name, value in record.headers]


class Printer:
    """Writes consumed records to ``out`` in one of :data:`FORMATS`."""

    def __init__(self, fmt: str, decode: Decoder, out: IO[bytes], separator: str = "\t") -> None:
        self._decode = decode
        self._out = out
        self._separator = separator.encode()
        self._rows: list[tuple[str, ...]] = []
        writers: dict[str, Callable[[Record], None]] = {
            "value": self._value,
            "kv": self._kv,
            "json": self._json,
            "table": self._row,
        }
        self.write = writers[fmt]
        self._table = fmt == "table"

    def _value(self, record: Record) -> None:
        self._out.write(as_bytes(self._decode.value(record)) + b"\n")

    def _kv(self, record: Record) -> None:
        key, value = self._decode.key(record), self._decode.value(record)
        self._out.write(as_bytes(key) + self._separator + as_bytes(value) + b"\n")

    def _json(self, record: Record) -> None:
        key, value = self._decode.key(record), self._decode.json_value(record)
        line = {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": record.timestamp,
            "key": _json_field(key),
            "value": _json_field(value),
            "headers": _header_pairs(record),
        }
        try:
            self._out.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
        except orjson.JSONEncodeError as exc:  # e.g. a float NaN from the float deserializer
            raise SerializationError(
                f"record cannot be printed as JSON: {exc}",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            ) from exc

    def _row(self, record: Record) -> None:
        key, value = self._decode.key(record), self._decode.value(record)
        when = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
        self._rows.append(
            (
                str(record.partition),
                str(record.offset),
                when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                as_bytes(key).decode("utf-8", "backslashreplace"),
                as_bytes(value).decode("utf-8", "backslashreplace"),
            )
        )

    def flush(self) -> None:
        """Push written records out (and nothing else; tables print at :meth:`finish`)."""
        self._out.flush()

    def finish(self) -> None:
        """Print the table, for the table format."""
        if not self._table:
            self._out.flush()
            return
        table = Table("Partition", "Offset", "Timestamp", "Key", "Value")
        for row in self._rows:
            table.add_row(*(Text(cell) for cell in row))
        # Rendered to text first so the table goes to the same stream as other formats; as
        # on stdout: boxed to the terminal's width there, one unwrapped line a row elsewhere.
        rendered = io.StringIO()
        terminal = stdout_console()
        console = Console(
            file=rendered,
            width=terminal.width,
            force_terminal=terminal.is_terminal,
            color_system=None,
            highlight=False,
            emoji=False,
            markup=False,
        )
        print_table(table, console)
        self._out.write(rendered.getvalue().encode())
        self._out.flush()
