"""Kafka Connect schemas as Debezium's JSON converter writes them, and Debezium's value encodings.

A Connect schema is kept as the plain dict the JSON converter renders (``{"type": "int32",
"optional": false, ...}``), keys in the converter's order, so that an envelope "with schema" is
byte-for-byte the shape Debezium consumers parse. The value helpers encode what Connect's JSON
converter encodes specially: decimals as base64 of the unscaled two's-complement integer,
bytes as base64.

Example:
    >>> from decimal import Decimal
    >>> decimal_schema(10, 2)["parameters"]
    {'scale': '2', 'connect.decimal.precision': '10'}
    >>> encode_decimal(Decimal("12.34"), 2)
    'BNI='
    >>> decode_decimal("BNI=", 2)
    Decimal('12.34')
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

Schema = dict[str, Any]
"""A Connect schema in the JSON converter's rendering."""

DECIMAL = "org.apache.kafka.connect.data.Decimal"
VARIABLE_SCALE_DECIMAL = "io.debezium.data.VariableScaleDecimal"
UNAVAILABLE_VALUE = "__debezium_unavailable_value"
"""Debezium's placeholder for a value the database did not send (an unchanged TOASTed column)."""


def primitive(
    type_: str,
    *,
    optional: bool = True,
    name: str | None = None,
    version: int | None = None,
    parameters: dict[str, str] | None = None,
    doc: str | None = None,
) -> Schema:
    """A primitive (or logical) schema: ``int32``, ``string``, ``bytes`` with a name...

    Example:
        >>> primitive("int64", name="io.debezium.time.MicroTimestamp", version=1)
        {'type': 'int64', 'optional': True, 'name': 'io.debezium.time.MicroTimestamp', 'version': 1}
    """
    schema: Schema = {"type": type_, "optional": optional}
    if name is not None:
        schema["name"] = name
    if version is not None:
        schema["version"] = version
    if doc is not None:
        schema["doc"] = doc
    if parameters is not None:
        schema["parameters"] = parameters
    return schema


def struct(
    fields: list[Schema],
    *,
    optional: bool,
    name: str | None = None,
    version: int | None = None,
    doc: str | None = None,
) -> Schema:
    """A struct schema of named fields (each made with :func:`field`)."""
    schema: Schema = {"type": "struct", "fields": fields, "optional": optional}
    if name is not None:
        schema["name"] = name
    if version is not None:
        schema["version"] = version
    if doc is not None:
        schema["doc"] = doc
    return schema


def array(items: Schema, *, optional: bool = True) -> Schema:
    """An array schema."""
    return {"type": "array", "items": items, "optional": optional}


_NO_DEFAULT = object()


def field(name: str, schema: Schema, default: Any = _NO_DEFAULT) -> Schema:
    """``schema`` as the field ``name`` of a struct, with an optional default value.

    Example:
        >>> field("id", primitive("int32", optional=False), default=0)
        {'type': 'int32', 'optional': False, 'default': 0, 'field': 'id'}
    """
    out = dict(schema)
    if default is not _NO_DEFAULT:
        out["default"] = default
    out["field"] = name
    return out


def with_optional(schema: Schema, optional: bool) -> Schema:
    """A copy of ``schema`` with its ``optional`` flag set."""
    out = dict(schema)
    out["optional"] = optional
    return out


def decimal_schema(precision: int | None, scale: int, *, optional: bool = True) -> Schema:
    """Connect's Decimal logical type (fixed scale), as Debezium's precise decimal mode uses."""
    parameters = {"scale": str(scale)}
    if precision is not None:
        parameters["connect.decimal.precision"] = str(precision)
    return primitive("bytes", optional=optional, name=DECIMAL, version=1, parameters=parameters)


def variable_scale_decimal_schema(*, optional: bool = True) -> Schema:
    """Debezium's VariableScaleDecimal: a decimal whose scale varies per value."""
    return struct(
        [
            field("scale", primitive("int32", optional=False)),
            field("value", primitive("bytes", optional=False)),
        ],
        optional=optional,
        name=VARIABLE_SCALE_DECIMAL,
        version=1,
        doc="Variable scaled decimal",
    )


def unscaled_bytes(unscaled: int) -> bytes:
    """Java's ``BigInteger.toByteArray()``: minimal big-endian two's complement.

    Example:
        >>> unscaled_bytes(128), unscaled_bytes(-1), unscaled_bytes(0)
        (b'\\x00\\x80', b'\\xff', b'\\x00')
    """
    magnitude = unscaled if unscaled >= 0 else ~unscaled
    return unscaled.to_bytes((magnitude.bit_length() + 8) // 8, "big", signed=True)


def b64(data: bytes) -> str:
    """Base64 text, as Connect's JSON converter writes ``bytes``."""
    return base64.b64encode(data).decode("ascii")


def unscaled_at(value: Decimal, scale: int) -> int:
    """The unscaled integer of ``value`` at ``scale``, exactly (no 28-digit context rounding).

    Digits beyond ``scale`` round half up, as a database column never sends them anyway.

    Example:
        >>> unscaled_at(Decimal("12.3"), 2), unscaled_at(Decimal("-0.005"), 2)
        (1230, -1)
    """
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{value} has no finite decimal value")
    unscaled = int("".join(map(str, digits)) or "0")
    shift = exponent + scale
    if shift >= 0:
        unscaled *= 10**shift
    else:
        divisor: int = 10**-shift
        quotient, remainder = divmod(unscaled, divisor)
        unscaled = quotient + (1 if 2 * remainder >= divisor else 0)
    return -unscaled if sign else unscaled


def encode_decimal(value: Decimal, scale: int) -> str:
    """A decimal at ``scale`` as Connect's JSON converter writes a Decimal (base64)."""
    return b64(unscaled_bytes(unscaled_at(value, scale)))


def encode_variable_decimal(value: Decimal) -> dict[str, Any]:
    """A decimal as Debezium's VariableScaleDecimal struct (trailing zeros stripped).

    Example:
        >>> encode_variable_decimal(Decimal("1.50")), encode_variable_decimal(Decimal("1E+2"))
        ({'scale': 1, 'value': 'Dw=='}, {'scale': 0, 'value': 'ZA=='})
    """
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{value} has no finite decimal value")
    scale = max(-exponent, 0)
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    scale = max(scale - trailing, 0) if any(digits) else 0
    return {"scale": scale, "value": encode_decimal(value, scale)}


def decode_decimal(data: str | bytes, scale: int) -> Decimal:
    """The inverse of :func:`encode_decimal`, exact at any precision."""
    raw = base64.b64decode(data) if isinstance(data, str) else data
    unscaled = int.from_bytes(raw, "big", signed=True)
    digits = tuple(int(c) for c in str(abs(unscaled)))
    return Decimal((1 if unscaled < 0 else 0, digits, -scale))
