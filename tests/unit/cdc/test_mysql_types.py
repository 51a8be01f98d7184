"""MySQL/MariaDB values (binlog and snapshot forms) to Debezium values."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from strom.cdc.connect import decode_decimal
from strom.cdc.mysql.types import ColumnInfo, column_type, default_value


def col(data_type: str, column_type: str = "", **kw: object) -> ColumnInfo:
    base = {"nullable": True, "default": None, "precision": None, "scale": None,
            "datetime_precision": None}  # fmt: skip
    base.update(kw)
    return ColumnInfo("c", data_type, column_type or data_type, **base)  # type: ignore[arg-type]


def test_integer_widths_follow_debezium() -> None:
    cases = [
        ("tinyint", "tinyint(4)", "int16"),
        ("smallint", "smallint(5) unsigned", "int32"),
        ("mediumint", "mediumint(9)", "int32"),
        ("int", "int(11)", "int32"),
        ("int", "int(10) unsigned", "int64"),
        ("bigint", "bigint(20) unsigned", "int64"),
    ]
    assert [column_type(col(d, c))[0]["type"] for d, c, _ in cases] == [t for *_, t in cases]
    assert column_type(col("bigint", "bigint(20) unsigned"))[1](2**64 - 1) == -1


def test_floats_decimals_bits() -> None:
    _, to_float = column_type(col("float"))
    assert to_float(1.100000023841858) == 1.1  # the binlog's widened float32
    schema, to_decimal = column_type(col("decimal", "decimal(12,3)", precision=12, scale=3))
    assert schema["parameters"] == {"scale": "3", "connect.decimal.precision": "12"}
    assert decode_decimal(to_decimal(Decimal("-1234.5")), 3) == Decimal("-1234.500")
    _, bit1 = column_type(col("bit", "bit(1)", precision=1))
    assert (bit1("1"), bit1(b"\x00")) == (True, False)
    schema, bits = column_type(col("bit", "bit(5)", precision=5))
    assert bits("00101") == bits(b"\x05") == "BQ=="  # binlog string and snapshot bytes agree


def test_temporal_types() -> None:
    _, dt3 = column_type(col("datetime", datetime_precision=3))
    assert dt3(datetime(1970, 1, 1, 0, 0, 1, 500000)) == 1500
    schema, dt6 = column_type(col("datetime", datetime_precision=6))
    assert schema["name"] == "io.debezium.time.MicroTimestamp" and dt6(datetime(1970, 1, 1)) == 0
    _, ts = column_type(col("timestamp", datetime_precision=3))
    assert ts(datetime(2024, 6, 30, 23, 59, 59, 500000)) == "2024-06-30T23:59:59.500Z"
    _, ts0 = column_type(col("timestamp", datetime_precision=0))
    assert ts0(datetime(2024, 6, 30, 1, 2, 3)) == "2024-06-30T01:02:03Z"
    _, tm = column_type(col("time", datetime_precision=6))
    assert tm(-timedelta(hours=838, minutes=59, seconds=59)) == -3020399000000
    _, d = column_type(col("date"))
    assert d(date(1970, 1, 2)) == 1
    assert column_type(col("year"))[0]["name"] == "io.debezium.time.Year"


def test_enum_set_json_and_text() -> None:
    schema, to_set = column_type(col("set", "set('x','y','it''s')"))
    assert schema["parameters"] == {"allowed": "x,y,it's"}
    assert to_set({"it's", "x"}) == "x,it's" and to_set("x,y") == "x,y"
    assert column_type(col("enum", "enum('a','b')"))[0]["parameters"] == {"allowed": "a,b"}
    _, js = column_type(col("json"))
    assert js({"a": [1]}) == '{"a":[1]}' and js('{"a": 1}') == '{"a": 1}'
    _, text = column_type(col("varchar", "varchar(10)"))
    assert text(b"z\xc3\xbcrich") == "zürich"


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (col("int", "int(11)", default="7"), (True, 7)),
        (col("varchar", "varchar(5)", default="'n'"), (True, "n")),
        (col("varchar", "varchar(5)", default="NULL"), (False, None)),
        (col("datetime", default="current_timestamp()"), (False, None)),
    ],
)
def test_literal_defaults(info: ColumnInfo, expected: tuple[bool, object]) -> None:
    assert default_value(info, column_type(info)[1]) == expected
