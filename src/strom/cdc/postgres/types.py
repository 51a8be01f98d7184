"""PostgreSQL types to Debezium's Connect schemas and values (Debezium's default modes).

Values arrive as text (each type's output function, in a session with ``DateStyle=ISO``,
``TimeZone=UTC``, ``IntervalStyle=postgres``, ``lc_monetary=C``, ``bytea_output=hex``) both from
``pgoutput`` and from the snapshot (read without type casting), so one converter per column
(:mod:`strom.cdc.postgres.values`) serves both. The mapping follows Debezium's PostgreSQL
connector with its defaults:
``decimal.handling.mode=precise``, ``time.precision.mode=adaptive``,
``interval.handling.mode=numeric``, ``binary.handling.mode=bytes``.

Example:
    >>> reg = TypeRegistry.builtin()
    >>> schema, convert = column_type(reg, NUMERIC, numeric_typmod(10, 2), optional=True)
    >>> schema["name"], convert("12.34")
    ('org.apache.kafka.connect.data.Decimal', 'BNI=')
    >>> column_type(reg, TIMESTAMPTZ, -1, optional=True)[1]("2024-01-02 01:04:05.5+00")
    '2024-01-02T01:04:05.500000Z'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from strom.cdc import connect
from strom.cdc.connect import UNAVAILABLE_VALUE, Schema, array, b64, decimal_schema, primitive
from strom.cdc.postgres import values as v
from strom.cdc.postgres.values import Converter

BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID = 16, 17, 18, 19, 20, 21, 23, 25, 26
JSON, XML, POINT, CIDR, FLOAT4, FLOAT8, MACADDR8, MONEY = 114, 142, 600, 650, 700, 701, 774, 790
MACADDR, INET, BPCHAR, VARCHAR, DATE, TIME, TIMESTAMP = 829, 869, 1042, 1043, 1082, 1083, 1114
TIMESTAMPTZ, INTERVAL, TIMETZ, BIT, VARBIT, NUMERIC, UUID = 1184, 1186, 1266, 1560, 1562, 1700, 2950
TSVECTOR, JSONB = 3614, 3802
RANGES = {3904, 3906, 3908, 3910, 3912, 3926}

PLACEHOLDER_BYTES = UNAVAILABLE_VALUE.encode()


@dataclass(frozen=True, slots=True)
class PgType:
    """A row of ``pg_type`` (the parts the mapping needs)."""

    oid: int
    name: str
    namespace: str = "pg_catalog"
    kind: str = "b"  # typtype: b base, e enum, d domain, c composite, r range...
    element: int = 0  # typelem of an array type
    base: int = 0  # typbasetype of a domain
    category: str = ""  # typcategory: A for arrays
    labels: tuple[str, ...] = field(default=())


_BUILTIN_NAMES = {
    BOOL: "bool", BYTEA: "bytea", CHAR: "char", NAME: "name", INT8: "int8", INT2: "int2",
    INT4: "int4", TEXT: "text", OID: "oid", JSON: "json", XML: "xml", POINT: "point",
    CIDR: "cidr", FLOAT4: "float4", FLOAT8: "float8", MACADDR8: "macaddr8", MONEY: "money",
    MACADDR: "macaddr", INET: "inet", BPCHAR: "bpchar", VARCHAR: "varchar", DATE: "date",
    TIME: "time", TIMESTAMP: "timestamp", TIMESTAMPTZ: "timestamptz", INTERVAL: "interval",
    TIMETZ: "timetz", BIT: "bit", VARBIT: "varbit", NUMERIC: "numeric", UUID: "uuid",
    TSVECTOR: "tsvector", JSONB: "jsonb",
}  # fmt: skip
_BUILTIN_ARRAYS = {
    1000: BOOL, 1001: BYTEA, 1002: CHAR, 1003: NAME, 1005: INT2, 1007: INT4, 1009: TEXT,
    1014: BPCHAR, 1015: VARCHAR, 1016: INT8, 1021: FLOAT4, 1022: FLOAT8, 1028: OID, 1041: INET,
    651: CIDR, 1040: MACADDR, 1182: DATE, 1183: TIME, 1115: TIMESTAMP, 1185: TIMESTAMPTZ,
    1270: TIMETZ, 1231: NUMERIC, 2951: UUID, 199: JSON, 3807: JSONB, 791: MONEY, 1187: INTERVAL,
}  # fmt: skip


class TypeRegistry:
    """The database's types by OID (``pg_type``, enum labels from ``pg_enum``)."""

    def __init__(self, types: dict[int, PgType]) -> None:
        self._types = types

    @classmethod
    def builtin(cls) -> TypeRegistry:
        """The built-in types only (for tests and as a fallback)."""
        types = {oid: PgType(oid, name) for oid, name in _BUILTIN_NAMES.items()}
        for oid, element in _BUILTIN_ARRAYS.items():
            types[oid] = PgType(oid, "_" + _BUILTIN_NAMES[element], element=element, category="A")
        return cls(types)

    @classmethod
    def load(cls, cursor: Any) -> TypeRegistry:
        """Read every type of the database through a DB-API cursor."""
        cursor.execute(
            "SELECT t.oid, t.typname, n.nspname, t.typtype, t.typelem, t.typbasetype, "
            "t.typcategory, (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) "
            "FROM pg_enum e WHERE e.enumtypid = t.oid) "
            "FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
        )
        types = {}
        for oid, name, nsp, kind, elem, base, category, labels in cursor.fetchall():
            types[int(oid)] = PgType(
                int(oid), name, nsp, kind, int(elem), int(base), category, tuple(labels or ())
            )
        return cls(types)

    def get(self, oid: int) -> PgType | None:
        """The type of ``oid``, or None when unknown."""
        return self._types.get(oid)

    def oids(self) -> tuple[int, ...]:
        """Every known type OID."""
        return tuple(self._types)

    def __contains__(self, oid: object) -> bool:
        return oid in self._types


def numeric_typmod(precision: int, scale: int) -> int:
    """The ``atttypmod`` of ``numeric(precision, scale)``."""
    return ((precision << 16) | scale) + 4


def _time_precision(typmod: int) -> int:
    return typmod if typmod >= 0 else 6


# --- schemas -----------------------------------------------------------------------------------


def _scalar(
    reg: TypeRegistry, pg: PgType | None, oid: int, typmod: int
) -> tuple[Schema, Converter, Any]:
    """(schema with optional=True, converter, TOAST placeholder) of a non-array type."""
    name = pg.name if pg is not None else _BUILTIN_NAMES.get(oid, "")
    placeholder: Any = UNAVAILABLE_VALUE
    if name == "bool":
        return primitive("boolean"), v.boolean, placeholder
    if name == "int2":
        return primitive("int16"), v.integer, placeholder
    if name == "int4":
        return primitive("int32"), v.integer, placeholder
    if name in ("int8", "oid"):
        return primitive("int64"), v.integer, placeholder
    if name == "float4":
        return primitive("float"), v.floating, placeholder
    if name == "float8":
        return primitive("double"), v.floating, placeholder
    if name == "numeric":
        if typmod < 0:
            return _variable_decimal_schema(), v.variable_decimal, placeholder
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        return decimal_schema(precision, scale), v.fixed_decimal(scale), placeholder
    if name == "money":
        return decimal_schema(None, 2), v.money, placeholder
    if name == "bytea":
        return primitive("bytes"), v.bytea, b64(PLACEHOLDER_BYTES)
    if name == "date":
        return primitive("int32", name="io.debezium.time.Date", version=1), v.date_days, placeholder
    if name == "time":
        if _time_precision(typmod) <= 3:
            return primitive("int32", name="io.debezium.time.Time", version=1), v.time_ms, None
        return primitive("int64", name="io.debezium.time.MicroTime", version=1), v.time_us, None
    if name == "timestamp":
        if _time_precision(typmod) <= 3:
            schema = primitive("int64", name="io.debezium.time.Timestamp", version=1)
            return schema, v.timestamp_ms, None
        schema = primitive("int64", name="io.debezium.time.MicroTimestamp", version=1)
        return schema, v.timestamp_us, None
    if name == "timestamptz":
        schema = primitive("string", name="io.debezium.time.ZonedTimestamp", version=1)
        return schema, v.zoned_timestamp(_time_precision(typmod)), placeholder
    if name == "timetz":
        return primitive("string", name="io.debezium.time.ZonedTime", version=1), v.zoned_time, None
    if name == "interval":
        schema = primitive("int64", name="io.debezium.time.MicroDuration", version=1)
        return schema, v.interval_us, None
    if name in ("json", "jsonb"):
        return (
            primitive("string", name="io.debezium.data.Json", version=1),
            v.text_value,
            placeholder,
        )
    if name == "xml":
        return (
            primitive("string", name="io.debezium.data.Xml", version=1),
            v.text_value,
            placeholder,
        )
    if name == "uuid":
        return (
            primitive("string", name="io.debezium.data.Uuid", version=1),
            v.text_value,
            placeholder,
        )
    if name in ("bit", "varbit"):
        length = typmod if typmod > 0 else (1 if name == "bit" else 2**31 - 1)
        if length == 1:
            return primitive("boolean"), v.bit_bool, None
        schema = primitive(
            "bytes", name="io.debezium.data.Bits", version=1, parameters={"length": str(length)}
        )
        return schema, v.bits, None
    if name == "point":
        return _point_schema(), v.point, None
    if name == "tsvector":
        schema = primitive("string", name="io.debezium.data.TsVector", version=1)
        return schema, v.text_value, placeholder
    if pg is not None and pg.kind == "e":
        schema = primitive(
            "string",
            name="io.debezium.data.Enum",
            version=1,
            parameters={"allowed": ",".join(pg.labels)},
        )
        return schema, v.text_value, placeholder
    if pg is not None and pg.kind == "d" and pg.base:
        return _scalar(reg, reg.get(pg.base), pg.base, typmod)
    # text, varchar, bpchar, char, name, inet, cidr, macaddr, ranges, citext and anything else:
    # their text form (Debezium omits types it does not know; strom keeps them as strings).
    return primitive("string"), v.text_value, placeholder


def _variable_decimal_schema() -> Schema:
    return connect.struct(
        [
            connect.field("scale", primitive("int32", optional=False)),
            connect.field("value", primitive("bytes", optional=False)),
        ],
        optional=True,
        name="io.debezium.data.VariableScaleDecimal",
        version=1,
        doc="Variable scaled decimal",
    )


def _point_schema() -> Schema:
    return connect.struct(
        [
            connect.field("x", primitive("double", optional=False)),
            connect.field("y", primitive("double", optional=False)),
            connect.field("wkb", primitive("bytes")),
            connect.field("srid", primitive("int32")),
        ],
        optional=True,
        name="io.debezium.data.geometry.Point",
        version=1,
        doc="Geometry (POINT)",
    )


@dataclass(frozen=True, slots=True)
class ColumnType:
    """How one column is written: schema (``optional`` set), converter, TOAST placeholder."""

    schema: Schema
    convert: Converter
    placeholder: Any


def column_type(
    reg: TypeRegistry, oid: int, typmod: int, *, optional: bool
) -> tuple[Schema, Converter]:
    """The Connect schema and the text converter of a column of type ``oid``/``typmod``."""
    resolved = resolve(reg, oid, typmod, optional=optional)
    return resolved.schema, resolved.convert


def resolve(reg: TypeRegistry, oid: int, typmod: int, *, optional: bool) -> ColumnType:
    """Everything needed to write a column of type ``oid``/``typmod``."""
    pg = reg.get(oid)
    element_oid = pg.element if pg is not None and pg.category == "A" else 0
    if element_oid:
        element = reg.get(element_oid)
        schema, convert, _ = _scalar(reg, element, element_oid, typmod)
        schema = dict(schema)
        schema["optional"] = True
        name = element.name if element is not None else ""
        if name in ("int2", "int4", "int8", "oid"):
            placeholder: Any = list(PLACEHOLDER_BYTES)
        elif name == "bytea":
            placeholder = [b64(PLACEHOLDER_BYTES)]
        else:
            placeholder = [UNAVAILABLE_VALUE]
        out = array(schema, optional=optional)
        return ColumnType(out, v.array_of(convert), placeholder)
    schema, convert, placeholder = _scalar(reg, pg, oid, typmod)
    schema = dict(schema)
    schema["optional"] = optional
    return ColumnType(schema, convert, placeholder)


# --- column defaults, as Debezium's PostgresDefaultValueConverter reads them ---------------------

_FUNCTION_DEFAULT = re.compile(r"^[(]?[A-Za-z0-9_.]+\((?:.+(?:, ?.+)*)?\)")
_LITERAL_DEFAULT = re.compile(r"'(.*?)'")
_CURRENT = {"current_timestamp", "current_time", "current_date", "localtime", "localtimestamp"}
_GENERATED_PLACEHOLDER = {
    "bool": "false", "bpchar": "", "varchar": "", "text": "", "numeric": "0.0", "float4": "0.0",
    "float8": "0.0", "int2": "0", "int4": "0", "int8": "0", "json": "{}", "jsonb": "{}", "xml": "",
    "uuid": "00000000-0000-0000-0000-000000000000",
}  # fmt: skip


def default_value(
    reg: TypeRegistry, oid: int, typmod: int, expression: str | None
) -> tuple[bool, Any]:
    """(has_default, value) of a column default expression, as Debezium's schema shows it.

    Only constants of the types Debezium parses count; a function default (``nextval(...)``,
    ``now()``) becomes the type's placeholder (0 for integers), as in Debezium.

    Example:
        >>> reg = TypeRegistry.builtin()
        >>> default_value(reg, INT4, -1, "nextval('t_id_seq'::regclass)")
        (True, 0)
        >>> default_value(reg, TEXT, -1, "'new'::text")
        (True, 'new')
    """
    if expression is None:
        return False, None
    pg = reg.get(oid)
    name = pg.name if pg is not None else ""
    if pg is not None and pg.kind == "e":
        match = re.match(r"^'(.*)'::", expression)
        return (True, match.group(1)) if match else (False, None)
    if name not in _GENERATED_PLACEHOLDER:
        return False, None
    text = expression.strip()
    if _FUNCTION_DEFAULT.search(text) or text.lower() in _CURRENT:
        text = _GENERATED_PLACEHOLDER[name]
    elif "'" in text:
        match = _LITERAL_DEFAULT.search(text)
        if match is None:
            return False, None
        text = match.group(1)
    elif text.startswith("NULL::"):
        return False, None
    try:
        if name == "bool":
            return True, text.lower() == "true"
        convert = resolve(reg, oid, typmod, optional=True).convert
        return True, convert(text)
    except (ValueError, ArithmeticError):
        return False, None
