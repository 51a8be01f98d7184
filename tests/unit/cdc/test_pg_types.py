"""PostgreSQL text values to Debezium values, type by type (Debezium's default modes)."""

from __future__ import annotations

import base64
import struct
from decimal import Decimal

import pytest

from strom.cdc.connect import UNAVAILABLE_VALUE, decode_decimal, unscaled_bytes
from strom.cdc.postgres import types as t
from strom.cdc.postgres.values import parse_array

REG = t.TypeRegistry.builtin()


def convert(oid: int, text: str, typmod: int = -1) -> object:
    return t.resolve(REG, oid, typmod, optional=True).convert(text)


def schema(oid: int, typmod: int = -1) -> dict[str, object]:
    return t.resolve(REG, oid, typmod, optional=True).schema


def test_integers_floats_booleans() -> None:
    assert (schema(t.INT2)["type"], convert(t.INT2, "-32768")) == ("int16", -32768)
    assert (schema(t.INT8)["type"], convert(t.INT8, "9223372036854775807")) == (
        "int64",
        9223372036854775807,
    )
    assert (schema(t.FLOAT4)["type"], convert(t.FLOAT4, "1.1")) == ("float", 1.1)
    assert convert(t.FLOAT8, "NaN") == "NaN"
    assert (convert(t.BOOL, "t"), convert(t.BOOL, "f")) == (True, False)


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [("12.34", 2, Decimal("12.34")), ("-0.01", 2, Decimal("-0.01")), ("0", 3, Decimal("0.000")),
     ("99999999999999999999999999999999.5", 1, Decimal("99999999999999999999999999999999.5"))],
)  # fmt: skip
def test_fixed_numeric_round_trips_exactly(text: str, scale: int, expected: Decimal) -> None:
    typmod = t.numeric_typmod(40, scale)
    encoded = convert(t.NUMERIC, text, typmod)
    assert decode_decimal(str(encoded), scale) == expected
    assert schema(t.NUMERIC, typmod)["parameters"] == {
        "scale": str(scale),
        "connect.decimal.precision": "40",
    }


def test_variable_numeric_strips_trailing_zeros_and_nan_is_null() -> None:
    assert convert(t.NUMERIC, "1.50") == {"scale": 1, "value": "Dw=="}
    assert convert(t.NUMERIC, "100") == {"scale": 0, "value": "ZA=="}
    assert convert(t.NUMERIC, "NaN") is None
    assert schema(t.NUMERIC)["name"] == "io.debezium.data.VariableScaleDecimal"


def test_money_in_c_locale() -> None:
    assert decode_decimal(str(convert(t.MONEY, "-$1,234.56")), 2) == Decimal("-1234.56")
    assert schema(t.MONEY)["parameters"] == {"scale": "2"}


def test_dates_times_and_timestamps() -> None:
    assert convert(t.DATE, "1970-01-02") == 1
    assert convert(t.DATE, "1900-02-28") == -25509
    assert convert(t.TIMESTAMP, "2024-01-02 03:04:05.123456") == 1704164645123456
    assert convert(t.TIMESTAMP, "1969-12-31 23:59:59.999", 3) == -1
    assert schema(t.TIMESTAMP, 3)["name"] == "io.debezium.time.Timestamp"
    assert convert(t.TIMESTAMP, "infinity") == 9223372036825200000
    assert convert(t.TIME, "23:59:59.999999") == 86399999999
    assert convert(t.TIME, "24:00:00") == 86400000000
    assert convert(t.TIME, "12:00:01", 0) == 43201000
    assert schema(t.TIME, 0)["name"] == "io.debezium.time.Time"


@pytest.mark.parametrize(
    ("text", "typmod", "expected"),
    [
        ("2024-06-30 23:59:59.5+05:30", -1, "2024-06-30T18:29:59.500000Z"),
        ("2024-01-02 03:04:05.1234+00", 3, "2024-01-02T03:04:05.123Z"),
        ("2024-01-02 03:04:05+00", 0, "2024-01-02T03:04:05Z"),
        ("2024-01-02 03:04:05.25-01", 0, "2024-01-02T04:04:05.25Z"),
        ("infinity", -1, "infinity"),
    ],
)
def test_zoned_timestamps_use_the_column_precision(text: str, typmod: int, expected: str) -> None:
    assert convert(t.TIMESTAMPTZ, text, typmod) == expected


def test_zoned_time_and_interval() -> None:
    assert convert(t.TIMETZ, "03:04:05.5-08") == "11:04:05.5Z"
    assert convert(t.TIMETZ, "01:00:00+05:30") == "19:30:00Z"
    # 365.25/12-day months, computed in doubles as Debezium's MicroDuration does
    assert convert(t.INTERVAL, "1 year 2 mons 3 days 04:05:06.5") == 37091106500000
    assert convert(t.INTERVAL, "-1 years -2 mons +3 days -04:05:06.25") == -36572706250000
    assert convert(t.INTERVAL, "00:00:00") == 0


def test_binary_bits_point_and_strings() -> None:
    assert convert(t.BYTEA, "\\x00ff10") == base64.b64encode(b"\x00\xff\x10").decode()
    assert convert(t.BIT, "1", 1) is True
    assert convert(t.BIT, "1010101010", 10) == "qgI="  # little-endian, as Debezium's BitSet
    assert schema(t.VARBIT, 20)["parameters"] == {"length": "20"}
    point = convert(t.POINT, "(1.5,-2)")
    wkb = base64.b64decode(point["wkb"])  # type: ignore[index]
    assert point["x"] == 1.5 and struct.unpack("<BIdd", wkb) == (1, 1, 1.5, -2.0)  # type: ignore[index]
    assert convert(t.UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11") == (
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    )
    assert schema(t.JSONB)["name"] == "io.debezium.data.Json"


def test_arrays_parse_quotes_nulls_nesting_and_bounds() -> None:
    assert parse_array('{"a b","c,d",NULL,"e\\"f","NULL"}') == ["a b", "c,d", None, 'e"f', "NULL"]
    assert parse_array("{{1,2},{3,NULL}}") == [["1", "2"], ["3", None]]
    assert parse_array("[0:1]={7,8}") == ["7", "8"]
    assert parse_array("{}") == []
    assert convert(1007, "{1,NULL,3}") == [1, None, 3]  # int4[]
    assert schema(1231, t.numeric_typmod(5, 1))["items"]["parameters"] == {  # type: ignore[index]
        "scale": "1",
        "connect.decimal.precision": "5",
    }


def test_enums_and_domains_from_the_registry() -> None:
    reg = t.TypeRegistry(
        {
            **{oid: REG.get(oid) for oid in REG.oids()},  # type: ignore[misc]
            500: t.PgType(500, "mood", "shop", "e", labels=("sad", "happy")),
            501: t.PgType(501, "positive", "shop", "d", base=t.INT4),
        }
    )
    enum = t.resolve(reg, 500, -1, optional=False)
    assert enum.schema == {
        "type": "string",
        "optional": False,
        "name": "io.debezium.data.Enum",
        "version": 1,
        "parameters": {"allowed": "sad,happy"},
    }
    assert t.resolve(reg, 501, -1, optional=True).schema == {"type": "int32", "optional": True}
    assert t.default_value(reg, 500, -1, "'sad'::shop.mood") == (True, "sad")


def test_unchanged_toast_placeholders_by_type() -> None:
    assert t.resolve(REG, t.TEXT, -1, optional=True).placeholder == UNAVAILABLE_VALUE
    assert base64.b64decode(str(t.resolve(REG, t.BYTEA, -1, optional=True).placeholder)) == (
        UNAVAILABLE_VALUE.encode()
    )
    assert t.resolve(REG, 1009, -1, optional=True).placeholder == [UNAVAILABLE_VALUE]
    assert t.resolve(REG, 1007, -1, optional=True).placeholder == list(UNAVAILABLE_VALUE.encode())


@pytest.mark.parametrize(
    ("oid", "typmod", "expression", "expected"),
    [
        (t.INT4, -1, "nextval('s'::regclass)", (True, 0)),
        (t.INT4, -1, "42", (True, 42)),
        (t.BOOL, -1, "true", (True, True)),
        (t.TEXT, -1, "'it''s'::text", (True, "it")),
        (t.NUMERIC, t.numeric_typmod(4, 2), "1.5", (True, "AJY=")),
        (t.TIMESTAMPTZ, -1, "now()", (False, None)),
        (t.INT4, -1, "NULL::integer", (False, None)),
        (t.TEXT, -1, None, (False, None)),
    ],
)
def test_column_defaults_as_debezium_reads_them(
    oid: int, typmod: int, expression: str | None, expected: tuple[bool, object]
) -> None:
    assert t.default_value(REG, oid, typmod, expression) == expected


def test_unscaled_bytes_are_javas_biginteger_bytes() -> None:
    assert [unscaled_bytes(n) for n in (0, 1, 127, 128, -128, -129, 255)] == [
        b"\x00", b"\x01", b"\x7f", b"\x00\x80", b"\x80", b"\xff\x7f", b"\x00\xff"
    ]  # fmt: skip
