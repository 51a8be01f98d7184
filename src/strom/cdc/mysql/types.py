"""MySQL/MariaDB column types to Debezium's Connect schemas and values (Debezium's defaults).

Columns are described by ``information_schema.COLUMNS``; values arrive as Python objects,
decoded either by ``pymysqlreplication`` (the binlog) or by PyMySQL (the snapshot, in a session
with ``time_zone='+00:00'``), and one converter per column accepts both forms. Defaults
followed: ``decimal.handling.mode=precise``, ``time.precision.mode=adaptive_time_microseconds``,
``bigint.unsigned.handling.mode=long``, ``binary.handling.mode=bytes``.

Example:
    >>> from decimal import Decimal
    >>> info = ColumnInfo("price", "decimal", "decimal(10,2)", True, None, 10, 2, None)
    >>> schema, convert = column_type(info)
    >>> schema["name"], convert(Decimal("12.34"))
    ('org.apache.kafka.connect.data.Decimal', 'BNI=')
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from strom.cdc.connect import Schema, b64, decimal_schema, encode_decimal, primitive

Converter = Callable[[Any], Any]

_EPOCH = datetime(1970, 1, 1)
_EPOCH_DATE = date(1970, 1, 1)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """A row of ``information_schema.COLUMNS`` (the parts the mapping needs)."""

    name: str
    data_type: str  # DATA_TYPE, lower case: int, varchar, datetime...
    column_type: str  # COLUMN_TYPE: int(10) unsigned, enum('a','b'), tinyint(1)...
    nullable: bool
    default: str | None  # COLUMN_DEFAULT as the server reports it
    precision: int | None  # NUMERIC_PRECISION (or CHARACTER_MAXIMUM_LENGTH for bit)
    scale: int | None  # NUMERIC_SCALE
    datetime_precision: int | None  # DATETIME_PRECISION


def _options(column_type: str) -> list[str]:
    """The quoted options of ``enum('a','b')`` / ``set(...)``."""
    inner = column_type[column_type.index("(") + 1 : column_type.rindex(")")]
    return [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", inner)]


def _float32(value: Any) -> float:
    """The shortest decimal that reads back as the same 32-bit float (Java's Float.toString)."""
    x32 = struct.unpack("<f", struct.pack("<f", float(value)))[0]
    for digits in range(1, 10):
        candidate = float(f"{x32:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", candidate))[0] == x32:
            return candidate
    return float(x32)


def _signed64(value: Any) -> int:
    # bigint unsigned in Debezium's default "long" mode: the two's complement reading.
    number = int(value)
    return number - (1 << 64) if number >= 1 << 63 else number


def _datetime_us(value: Any) -> int:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return int((value - _EPOCH) // _US)


def _date_days(value: Any) -> int:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.date()
    return int((value - _EPOCH_DATE).days)


def _time_us(value: Any) -> int:
    if isinstance(value, timedelta):
        return int(value // _US)
    raise ValueError(f"not a TIME value: {value!r}")


def _zoned(width: int) -> Converter:
    def convert(value: Any) -> str:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        text = str(value.strftime("%Y-%m-%dT%H:%M:%S"))
        micros = int(value.microsecond)
        if width <= 0:
            fraction = "" if micros == 0 else "." + f"{micros:06d}".rstrip("0")
        else:
            fraction = "." + f"{micros:06d}"[:width]
        return text + fraction + "Z"

    return convert


def _bits_bool(value: Any) -> bool:
    if isinstance(value, bytes):
        return int.from_bytes(value, "big") != 0
    return int(str(value), 2) != 0


def _bits(value: Any) -> str:
    number = int.from_bytes(value, "big") if isinstance(value, bytes) else int(str(value), 2)
    return b64(number.to_bytes(max((number.bit_length() + 7) // 8, 1), "little"))


def _bytes(value: Any) -> str:
    return b64(value if isinstance(value, bytes) else str(value).encode())


def _string(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _json(value: Any) -> str:
    if isinstance(value, (bytes, str)):
        return _string(value)
    return orjson.dumps(value).decode()  # MySQL's binary JSON, decoded by pymysqlreplication


def _set_of(options: list[str]) -> Converter:
    def convert(value: Any) -> str:
        if isinstance(value, (set, frozenset)):
            return ",".join(o for o in options if o in value)
        return _string(value)

    return convert


def column_type(info: ColumnInfo) -> tuple[Schema, Converter]:
    """The Connect schema (``optional`` from the column) and the value converter."""
    schema, convert = _mapping(info)
    schema = dict(schema)
    schema["optional"] = info.nullable
    return schema, convert


def _mapping(info: ColumnInfo) -> tuple[Schema, Converter]:
    kind = info.data_type.lower()
    unsigned = "unsigned" in info.column_type.lower()
    if kind in ("tinyint", "smallint"):
        if kind == "smallint" and unsigned:
            return primitive("int32"), int
        return primitive("int16"), int
    if kind in ("mediumint",):
        return primitive("int32"), int
    if kind in ("int", "integer"):
        return (primitive("int64"), int) if unsigned else (primitive("int32"), int)
    if kind == "bigint":
        return primitive("int64"), _signed64 if unsigned else int
    if kind == "float":
        return primitive("float"), _float32
    if kind in ("double", "real"):
        return primitive("double"), float
    if kind in ("decimal", "numeric"):
        scale = info.scale or 0

        def decimal(value: Any) -> str:
            return encode_decimal(value if isinstance(value, Decimal) else Decimal(value), scale)

        return decimal_schema(info.precision, scale), decimal
    if kind == "bit":
        length = info.precision or 1
        if length == 1:
            return primitive("boolean"), _bits_bool
        params = {"length": str(length)}
        return primitive("bytes", name="io.debezium.data.Bits", version=1, parameters=params), _bits
    if kind == "date":
        return primitive("int32", name="io.debezium.time.Date", version=1), _date_days
    if kind == "time":
        return primitive("int64", name="io.debezium.time.MicroTime", version=1), _time_us
    if kind == "datetime":
        if (info.datetime_precision or 0) <= 3:
            schema = primitive("int64", name="io.debezium.time.Timestamp", version=1)
            return schema, lambda value: _datetime_us(value) // 1000
        schema = primitive("int64", name="io.debezium.time.MicroTimestamp", version=1)
        return schema, _datetime_us
    if kind == "timestamp":
        schema = primitive("string", name="io.debezium.time.ZonedTimestamp", version=1)
        return schema, _zoned(info.datetime_precision or 0)
    if kind == "year":
        return primitive("int32", name="io.debezium.time.Year", version=1), int
    if kind == "enum":
        params = {"allowed": ",".join(_options(info.column_type))}
        return primitive(
            "string", name="io.debezium.data.Enum", version=1, parameters=params
        ), _string
    if kind == "set":
        options = _options(info.column_type)
        params = {"allowed": ",".join(options)}
        schema = primitive("string", name="io.debezium.data.EnumSet", version=1, parameters=params)
        return schema, _set_of(options)
    if kind == "json":
        return primitive("string", name="io.debezium.data.Json", version=1), _json
    if kind in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        return primitive("bytes"), _bytes
    if kind in ("geometry", "point", "linestring", "polygon"):
        return primitive("bytes"), _bytes
    # char, varchar, text types, and anything else: a string (MariaDB's JSON is LONGTEXT).
    return primitive("string"), _string


def default_value(info: ColumnInfo, convert: Converter) -> tuple[bool, Any]:
    """(has_default, value) of a column's literal default (functions and NULL: none).

    Example:
        >>> info = ColumnInfo("n", "int", "int(11)", False, "7", 10, 0, None)
        >>> default_value(info, int)
        (True, 7)
    """
    text = info.default
    if text is None or text.upper() == "NULL" or text.endswith(")"):
        return False, None
    if text.startswith("'") and text.endswith("'"):
        text = text[1:-1].replace("''", "'")
    kind = info.data_type.lower()
    try:
        if kind in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"):
            return True, convert(int(text))
        if kind in ("float", "double", "real"):
            return True, convert(float(text))
        if kind in ("decimal", "numeric"):
            return True, convert(Decimal(text))
        if kind in ("char", "varchar", "text", "tinytext", "mediumtext", "longtext", "enum"):
            return True, text
    except (ValueError, ArithmeticError):
        return False, None
    return False, None
