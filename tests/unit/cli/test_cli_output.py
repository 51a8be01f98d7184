"""How consumed records are printed, format by format (no log needed)."""

from __future__ import annotations

import base64
import io

import orjson
import pytest

from strom.cli.common import CommandError
from strom.cli.output import Decoder, Printer, as_bytes
from strom.log import Record
from strom.serde import by_name

RECORD = Record("t", 1, 7, b"k1", b'{"n": 1}', 1714564800250, (("h", b"v"), ("h", b"\xff")))


def _print(fmt: str, record: Record = RECORD, key: str = "string", value: str = "string") -> bytes:
    out = io.BytesIO()
    printer = Printer(fmt, Decoder(by_name(key), by_name(value)), out, " => ")
    printer.write(record)
    printer.finish()
    return out.getvalue()


def test_value_format() -> None:
    assert _print("value") == b'{"n": 1}\n'
    assert _print("value", value="json") == b'{"n":1}\n'
    assert _print("value", RECORD.with_value(None)) == b"null\n"


def test_value_format_does_not_decode_keys() -> None:
    assert _print("value", RECORD.with_key(b"\xff")) == b'{"n": 1}\n'


def test_kv_format_uses_the_separator() -> None:
    assert _print("kv") == b'k1 => {"n": 1}\n'
    assert _print("kv", RECORD.with_key(None)) == b'null => {"n": 1}\n'


def test_json_format_has_every_field() -> None:
    line = orjson.loads(_print("json", value="json"))
    assert line == {
        "topic": "t",
        "partition": 1,
        "offset": 7,
        "timestamp": 1714564800250,
        "key": "k1",
        "value": {"n": 1},
        "headers": [["h", "v"], ["h", "\\xff"]],
    }


def test_json_format_base64_for_bytes() -> None:
    line = orjson.loads(_print("json", key="bytes", value="bytes"))
    assert base64.b64decode(line["key"]) == b"k1"
    assert base64.b64decode(line["value"]) == b'{"n": 1}'


def test_json_format_numbers() -> None:
    record = RECORD.with_key((5).to_bytes(8, "big")).with_value(b"?\xf8\x00\x00\x00\x00\x00\x00")
    line = orjson.loads(_print("json", record, key="int", value="float"))
    assert (line["key"], line["value"]) == (5, 1.5)


def test_decode_failure_names_record_and_fix() -> None:
    with pytest.raises(CommandError) as info:
        _print("value", RECORD.with_value(b"\xff"))
    message = info.value.format_message()
    assert "topic='t', partition=1, offset=7" in message
    assert "--value-deserializer bytes" in message


def test_as_bytes() -> None:
    assert as_bytes(None) == b"null"
    assert as_bytes(b"\x00") == b"\x00"
    assert as_bytes("é") == "é".encode()
    assert as_bytes([1, {"a": None}]) == b'[1,{"a":null}]'


def test_table_format_prints_rows_at_the_end() -> None:
    text = _print("table").decode()
    assert "Partition" in text and "Timestamp" in text
    assert "2024-05-01T12:00:00.250Z" in text
    assert "k1" in text and '{"n": 1}' in text


def test_table_cells_are_not_markup() -> None:
    assert "[bold]x[/bold]" in _print("table", RECORD.with_value(b"[bold]x[/bold]")).decode()
