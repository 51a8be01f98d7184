"""The installed ``strom`` executable against the real Kafka broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import unique

pytestmark = pytest.mark.kafka

STROM = Path(sys.executable).with_name("strom")


def strom(url: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``strom --broker URL ARGS`` as a separate process, bounded in time."""
    env = {k: v for k, v in os.environ.items() if k != "STROM_BROKER"}
    return subprocess.run(
        [str(STROM), "--broker", url, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=env,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def test_topics_lifecycle(kafka_url: str) -> None:
    name = unique("cli-topic")
    created = ok(
        strom(kafka_url, "topics", "create", name, "-p", "3", "-c", "retention.ms=3600000")
    )
    assert f"Created topic {name!r} with 3 partitions." in created.stderr

    listed = orjson.loads(ok(strom(kafka_url, "topics", "list", "--json")).stdout)
    assert {"name": name, "partitions": 3, "compacted": False} in listed

    described = orjson.loads(ok(strom(kafka_url, "topics", "describe", name, "--json")).stdout)
    assert described["partitions"] == 3
    assert described["config"]["retention.ms"] == "3600000"
    assert described["end_offsets"] == [0, 0, 0]

    table = ok(strom(kafka_url, "topics", "describe", name)).stdout
    assert f"Topic {name}: 3 partitions" in table

    ok(strom(kafka_url, "topics", "delete", name, "--yes"))
    names = [
        t["name"] for t in orjson.loads(ok(strom(kafka_url, "topics", "list", "--json")).stdout)
    ]
    assert name not in names


def test_produce_then_consume_json(kafka_url: str) -> None:
    name = unique("cli-pc")
    ok(strom(kafka_url, "topics", "create", name, "-p", "2"))
    lines = [f'user-{i % 3}:{{"n": {i}}}' for i in range(9)]
    produced = ok(
        strom(
            kafka_url,
            "produce",
            name,
            "--key-separator",
            ":",
            "--format",
            "json",
            "--header",
            "source=cli",
            "--header",
            "run=1",
            input="\n".join(lines) + "\n",
        )
    )
    assert f"Produced 9 records to {name!r}." in produced.stderr

    consumed = ok(
        strom(
            kafka_url,
            "consume",
            name,
            "--from-beginning",
            "--max",
            "9",
            "--format",
            "json",
            "--value-deserializer",
            "json",
            "--timeout",
            "30",
        )
    )
    records: list[dict[str, Any]] = [orjson.loads(line) for line in consumed.stdout.splitlines()]
    assert len(records) == 9
    assert sorted(r["value"]["n"] for r in records) == list(range(9))
    for r in records:
        assert r["topic"] == name
        assert r["key"] == f"user-{r['value']['n'] % 3}"
        assert r["headers"] == [["source", "cli"], ["run", "1"]]
    by_key: dict[str, set[int]] = {}
    for r in records:
        by_key.setdefault(r["key"], set()).add(r["partition"])
    assert all(len(parts) == 1 for parts in by_key.values())
    for key in by_key:
        ns = [
            r["value"]["n"] for r in sorted(records, key=lambda r: r["offset"]) if r["key"] == key
        ]
        assert ns == sorted(ns)


def test_group_consume_then_lag_is_zero(kafka_url: str) -> None:
    name, group = unique("cli-lag"), unique("cli-group")
    ok(strom(kafka_url, "topics", "create", name, "-p", "2"))
    ok(strom(kafka_url, "produce", name, "-K", ",", "-p", "0", input="a,1\nb,2\n"))
    ok(strom(kafka_url, "produce", name, "-K", ",", "-p", "1", input="c,3\nd,4\ne,5\n"))
    consumed = ok(
        strom(
            kafka_url,
            "consume",
            name,
            "--group",
            group,
            "--from-beginning",
            "--max",
            "5",
            "--timeout",
            "30",
        )
    )
    assert sorted(consumed.stdout.split()) == ["1", "2", "3", "4", "5"]

    rows = orjson.loads(ok(strom(kafka_url, "lag", "--group", group, "--json")).stdout)
    assert rows == [
        {"topic": name, "partition": 0, "committed": 2, "end_offset": 2, "lag": 0},
        {"topic": name, "partition": 1, "committed": 3, "end_offset": 3, "lag": 0},
    ]
    table = ok(strom(kafka_url, "lag", "--group", group)).stdout
    assert f"Group {group}" in table
    assert "total" in table

    ok(strom(kafka_url, "produce", name, "-p", "0", input="late\n"))
    rows = orjson.loads(ok(strom(kafka_url, "lag", "--group", group, "--json")).stdout)
    assert {r["partition"]: r["lag"] for r in rows} == {0: 1, 1: 0}


def test_unknown_topic_is_a_clear_error(kafka_url: str) -> None:
    name = unique("cli-missing")
    for args in (
        ("produce", name),
        ("consume", name, "--timeout", "5"),
        ("topics", "describe", name),
    ):
        result = strom(kafka_url, *args, input="x\n")
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("Error: ")
        assert name in result.stderr
        assert "Traceback" not in result.stderr


def test_start_positions(kafka_url: str) -> None:
    name, group = unique("cli-pos"), unique("cli-tail")
    ok(strom(kafka_url, "topics", "create", name, "-p", "2"))
    ok(strom(kafka_url, "produce", name, "-p", "0", input="a\nb\nc\n"))
    out = strom(kafka_url, "consume", name, "-p", "0", "--offset", "1", "-n", "1", "-o", "json")
    second = orjson.loads(ok(out).stdout)
    assert (second["partition"], second["offset"], second["value"]) == (0, 1, "b")
    since = strom(
        kafka_url,
        "consume",
        name,
        "--from-timestamp",
        str(second["timestamp"]),
        "-p",
        "0",
        "-n",
        "3",  # "a" too when it shares the timestamp of "b"
        "--timeout",
        "5",  # idle seconds: a loaded machine can take more than 1 s to fetch
    )
    assert ok(since).stdout.splitlines()[-2:] == ["b", "c"]

    # A group positioned at the end commits that position, and later reads only what is new.
    skipped = ok(strom(kafka_url, "consume", name, "-g", group, "--from-end", "--timeout", "1"))
    assert skipped.stdout == ""
    ok(strom(kafka_url, "produce", name, "-p", "1", input="new\n"))
    later = ok(strom(kafka_url, "consume", name, "-g", group, "-n", "1", "--timeout", "10"))
    assert later.stdout == "new\n"
