"""``strom produce`` and ``strom consume`` over the embedded log: formats, positions, errors."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
import pytest

from strom.cli.consume import parse_timestamp
from tests.unit.cli.conftest import Strom


def _records(output: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in output.splitlines()]


@pytest.fixture
def topic(strom: Strom) -> str:
    assert strom("topics", "create", "events", "--partitions", "3").exit_code == 0
    return "events"


def test_produce_keys_and_headers_then_consume_json(strom: Strom, topic: str) -> None:
    lines = "u1:login\nu2:logout\nu1:click\n"
    produced = strom(
        "produce", topic, "--key-separator", ":", "-H", "source=cli", "-H", "trace=7", input=lines
    )
    assert produced.exit_code == 0, produced.output
    assert "Produced 3 records to 'events'." in produced.stderr

    consumed = strom("consume", topic, "--from-beginning", "--max", "3", "--format", "json")
    assert consumed.exit_code == 0, consumed.output
    records = _records(consumed.stdout)
    assert sorted((r["key"], r["value"]) for r in records) == [
        ("u1", "click"),
        ("u1", "login"),
        ("u2", "logout"),
    ]
    for r in records:
        assert r["topic"] == topic
        assert r["headers"] == [["source", "cli"], ["trace", "7"]]
        assert isinstance(r["timestamp"], int) and r["timestamp"] > 0
    # Same key, same partition, in order.
    u1 = [r for r in records if r["key"] == "u1"]
    assert u1[0]["partition"] == u1[1]["partition"]
    assert [r["value"] for r in sorted(u1, key=lambda r: r["offset"])] == ["login", "click"]
    assert "Consumed 3 records from 'events'." in consumed.stderr


def test_produce_from_file_to_one_partition(strom: Strom, topic: str, tmp_path: Any) -> None:
    source = tmp_path / "lines.txt"
    source.write_bytes(b"a\r\n\nb\nc")
    assert strom("produce", topic, "--file", str(source), "--partition", "2").exit_code == 0
    consumed = strom("consume", topic, "-p", "2", "--offset", "0", "-n", "3", "-o", "kv")
    assert consumed.stdout == "null\ta\nnull\tb\nnull\tc\n"


def test_json_format_validates_each_line(strom: Strom, topic: str) -> None:
    result = strom("produce", topic, "--format", "json", input='{"a": 1}\n[2]\n{"b": \n')
    assert result.exit_code == 1
    assert "stdin line 3 is not valid JSON" in result.stderr
    assert "the 2 records before it were produced" in result.stderr
    consumed = strom(
        "consume", topic, "--from-beginning", "-n", "2", "--value-deserializer", "json"
    )
    assert sorted(consumed.stdout.splitlines()) == ["[2]", '{"a":1}']


def test_missing_key_separator_names_the_line(strom: Strom, topic: str) -> None:
    result = strom("produce", topic, "-K", "=", input="k=v\nno separator\n")
    assert result.exit_code == 1
    assert "stdin line 2 has no key separator '='" in result.stderr


def test_produce_to_unknown_topic_is_one_clear_line(strom: Strom) -> None:
    result = strom("produce", "nope", input="x\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "nope" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_produce_to_missing_partition_is_a_usage_error(strom: Strom, topic: str) -> None:
    result = strom("produce", topic, "--partition", "3", input="x\n")
    assert result.exit_code == 2
    assert "has 3 partitions (0..2), there is no partition 3" in result.stderr


def test_consume_unknown_topic(strom: Strom) -> None:
    result = strom("consume", "nope", "--from-beginning", "--timeout", "1")
    assert result.exit_code == 1
    assert "nope" in result.stderr
    assert "Traceback" not in result.output


def test_value_format_and_deserializers(strom: Strom, topic: str) -> None:
    strom("produce", topic, "-p", "0", "-K", "|", input='k|{"n": 1}\n')
    value = strom("consume", topic, "--from-beginning", "-n", "1", "--value-deserializer", "json")
    assert value.stdout == '{"n":1}\n'
    raw = strom(
        "consume",
        topic,
        "--from-beginning",
        "-n",
        "1",
        "-o",
        "json",
        "--value-deserializer",
        "bytes",
    )
    assert base64.b64decode(_records(raw.stdout)[0]["value"]) == b'{"n": 1}'
    table = strom("consume", topic, "--from-beginning", "-n", "1", "-o", "table")
    assert "Partition" in table.stdout and '{"n": 1}' in table.stdout and "k" in table.stdout


def test_undecodable_value_points_to_bytes_deserializer(
    strom: Strom, topic: str, tmp_path: Any
) -> None:
    source = tmp_path / "bin"
    source.write_bytes(struct.pack(">q", 255) + b"\n")
    strom("produce", topic, "-f", str(source), "-p", "1")
    result = strom("consume", topic, "--from-beginning", "-n", "1", "--value-deserializer", "json")
    assert result.exit_code == 1
    assert "cannot deserialize the value with the 'json' serde" in result.stderr
    assert "topic='events', partition=1, offset=0" in result.stderr
    assert "--value-deserializer bytes" in result.stderr


def test_offset_needs_partition_and_positions_exclude_each_other(strom: Strom, topic: str) -> None:
    assert strom("consume", topic, "--offset", "1").exit_code == 2
    both = strom("consume", topic, "--from-beginning", "--from-end")
    assert both.exit_code == 2
    assert "--from-beginning and --from-end" in both.stderr
    assert strom("consume", topic, "--group", "g", "--partition", "0").exit_code == 2
    assert strom("consume", topic, "--from-timestamp", "yesterday").exit_code == 2


def test_from_end_and_offset(strom: Strom, topic: str) -> None:
    strom("produce", topic, "-p", "0", input="a\nb\nc\n")
    at_end = strom("consume", topic, "--from-end", "--timeout", "0.5")
    assert at_end.exit_code == 0
    assert at_end.stdout == ""
    assert "Consumed 0 records" in at_end.stderr
    from_one = strom("consume", topic, "-p", "0", "--offset", "1", "-n", "5", "--timeout", "1")
    assert from_one.stdout == "b\nc\n"


def test_from_timestamp(strom: Strom, topic: str) -> None:
    strom("produce", topic, "-p", "0", input="old\n")
    first = _records(strom("consume", topic, "--from-beginning", "-n", "1", "-o", "json").stdout)[0]
    after = str(first["timestamp"] + 1)
    assert strom("consume", topic, "--from-timestamp", after, "--timeout", "0.5").stdout == ""
    same = strom("consume", topic, "--from-timestamp", str(first["timestamp"]), "-n", "1")
    assert same.stdout == "old\n"
    iso = strom("consume", topic, "--from-timestamp", "2000-01-01T00:00:00Z", "-n", "1")
    assert iso.stdout == "old\n"


def test_group_commits_what_it_printed(strom: Strom, topic: str) -> None:
    strom("produce", topic, input="".join(f"v{i}\n" for i in range(6)))
    first = strom("consume", topic, "-g", "readers", "--from-beginning", "-n", "4")
    assert first.exit_code == 0, first.output
    assert len(first.stdout.splitlines()) == 4
    rest = strom("consume", topic, "-g", "readers", "-n", "10", "--timeout", "1")
    assert rest.exit_code == 0
    seen = first.stdout.splitlines() + rest.stdout.splitlines()
    assert sorted(seen) == [f"v{i}" for i in range(6)]


def test_parse_timestamp() -> None:
    assert parse_timestamp("0") == 0
    assert parse_timestamp("1970-01-01T00:00:01+00:00") == 1000
    assert parse_timestamp("2024-05-01T12:00:00.250Z") == 1714564800250


def test_new_group_starts_at_the_beginning(strom: Strom, topic: str) -> None:
    strom("produce", topic, input="a\nb\n")
    result = strom("consume", topic, "-g", "fresh", "-n", "2", "--timeout", "2")
    assert sorted(result.stdout.splitlines()) == ["a", "b"]


def test_group_from_end_remembers_where_it_stood(strom: Strom, topic: str) -> None:
    strom("produce", topic, input="old1\nold2\nold3\n")
    skipped = strom("consume", topic, "-g", "tail", "--from-end", "--timeout", "0.5")
    assert skipped.exit_code == 0
    assert skipped.stdout == ""
    strom("produce", topic, input="new\n")
    later = strom("consume", topic, "-g", "tail", "-n", "5", "--timeout", "1")
    assert later.stdout == "new\n"


def test_group_commits_records_printed_before_a_failure(
    strom: Strom, topic: str, tmp_path: Any
) -> None:
    source = tmp_path / "mixed"
    source.write_bytes(b"one\ntwo\n\xff\nfour\n")
    strom("produce", topic, "-f", str(source), "-p", "0")
    failed = strom(
        "consume",
        topic,
        "-g",
        "strict",
        "--from-beginning",
        "-n",
        "4",
        "--value-deserializer",
        "string",
    )
    assert failed.exit_code == 1
    assert failed.stdout == "one\ntwo\n"
    assert "offset=2" in failed.stderr
    rows = orjson.loads(strom("lag", "-g", "strict", "--json").stdout)
    assert [(r["partition"], r["committed"]) for r in rows if r["partition"] == 0] == [(0, 2)]
