"""``strom dlq list|show|replay`` on both logs: dead-letter records written by the
DeadLetterWriter, inspected and re-injected through the command line."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

import strom.log
from strom.cli.main import cli
from strom.dead_letter import REPLAYED_FROM, DeadLetterWriter
from strom.errors import SerializationError
from strom.log import Log, Record
from tests.conftest import unique
from tests.contract.log_support import WAIT, make_topic, read_all

STEPS = ["parse", "price", "parse", "enrich", "parse", "price"]


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def log(url: str) -> Iterator[Log]:
    opened = strom.log.connect(url)
    yield opened
    opened.close()


def run(url: str, *args: str) -> Result:
    result = CliRunner().invoke(cli, [*args, "--broker", url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def write_originals(log: Log, topic: str, count: int) -> list[Record]:
    """``count`` records with non-UTF-8 bytes and headers, 2 partitions; returns them as read."""
    producer = log.producer()
    for i in range(count):
        producer.send(
            topic,
            b"\xff" + f"value-{i}".encode(),
            f"key-{i % 3}".encode(),
            partition=i % 2,
            timestamp=1_600_000_000_000 + i,
            headers=[("trace", f"t-{i}".encode()), ("dup", b"a"), ("dup", b"b")],
        )
    producer.flush(WAIT)
    producer.close()
    return read_all(log, topic, 2, expect=count)


def dead_letter(log: Log, dlq: str, originals: list[Record]) -> None:
    producer = log.producer()
    writer = DeadLetterWriter(producer, app="shop", with_traceback=False)
    for i, record in enumerate(originals):
        error: Exception = (
            SerializationError("not JSON", topic=record.topic) if STEPS[i] == "parse"
            else ValueError(f"bad value {i}")
        )  # fmt: skip
        writer.send(
            dlq, record, error, step=STEPS[i], attempts=1 + i % 2, first_failure_ms=5_000 + i
        )
    producer.flush(WAIT)
    producer.close()
    writer.check()


@pytest.fixture
def scenario(log: Log) -> tuple[str, str, list[Record]]:
    source = make_topic(log, "orders", partitions=2)
    # Not named *-dlq: found by its headers.
    dlq = make_topic(log, "dead-letters")
    originals = write_originals(log, source, len(STEPS))
    dead_letter(log, dlq, originals)
    return source, dlq, originals


def stripped(headers: tuple[tuple[str, bytes], ...]) -> tuple[tuple[str, bytes], ...]:
    return tuple((k, v) for k, v in headers if k != REPLAYED_FROM)


def test_list_finds_dead_letter_topics_by_headers_and_name(
    url: str, log: Log, scenario: tuple[str, str, list[Record]]
) -> None:
    source, dlq, _ = scenario
    empty = unique("empty") + "-dlq"
    make_empty = log.admin()
    make_empty.create_topics([strom.log.TopicSpec(empty)])
    make_empty.close()
    # The shared Kafka broker holds many topics: look only at this test's.
    mine = ["--match", source, "--match", dlq, "-m", empty]
    output = run(url, "dlq", "list", *mine, "--json").output
    listed = {e["topic"]: e["records"] for e in json.loads(output)}
    assert listed == {dlq: len(STEPS), empty: 0}
    assert dlq in run(url, "dlq", "list", *mine).output
    if url.startswith("local://"):
        assert {e["topic"] for e in json.loads(run(url, "dlq", "list", "--json").output)} == {
            dlq,
            empty,
        }


def test_list_topic_counts_by_error_type_step_and_source(
    url: str, scenario: tuple[str, str, list[Record]]
) -> None:
    source, dlq, _ = scenario
    (summary,) = json.loads(run(url, "dlq", "list", "--topic", dlq, "--json").output)
    assert summary["total"] == 6
    assert summary["by_step"] == {"parse": 3, "price": 2, "enrich": 1}
    assert summary["by_error_type"] == {"strom.errors.SerializationError": 3, "ValueError": 3}
    assert summary["by_source"] == {source: 6}
    assert summary["not_dead_letters"] == 0
    text = run(url, "dlq", "list", "-t", dlq).output
    assert "SerializationError" in text and "enrich" in text


def test_show_prints_failure_headers_and_exact_bytes(
    url: str, scenario: tuple[str, str, list[Record]]
) -> None:
    source, dlq, originals = scenario
    lines = run(url, "dlq", "show", dlq, "--json").output.splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == len(originals)
    by_source = {(e["source"]["partition"], e["source"]["offset"]): e for e in entries}
    for i, original in enumerate(originals):
        entry = by_source[(original.partition, original.offset)]
        assert entry["source"]["topic"] == source
        assert entry["source"]["timestamp"] == original.timestamp
        assert base64.b64decode(entry["value_base64"]) == original.value
        assert entry["value"] is None  # not UTF-8
        assert entry["key"] == original.key.decode()  # type: ignore[union-attr]
        assert [tuple(h) for h in entry["headers"]] == [
            (k, v.decode()) for k, v in original.headers
        ]
        assert entry["error"]["step"] == STEPS[i]
        assert entry["error"]["app"] == "shop"
    text = run(url, "dlq", "show", dlq, "--max", "2").output
    assert text.count(f"{dlq}/0@") == 2
    assert "error      " in text


def test_replay_is_exact_resumable_and_without_duplicates(
    url: str, log: Log, scenario: tuple[str, str, list[Record]]
) -> None:
    _, dlq, originals = scenario
    target = make_topic(log, "fixed", partitions=2)
    group = unique("replay")
    first = json.loads(
        run(
            url, "dlq", "replay", dlq, "--to", target, "--group", group, "--max", "4", "--json"
        ).output
    )
    assert first["replayed"] == 4
    assert len(read_all(log, target, 2, expect=4)) == 4
    # A second run continues after what the first committed ...
    second = json.loads(
        run(url, "dlq", "replay", dlq, "--to", target, "-g", group, "--json").output
    )
    assert second["replayed"] == 2
    # ... and a third finds nothing left.
    third = json.loads(run(url, "dlq", "replay", dlq, "--to", target, "-g", group, "--json").output)
    assert third["replayed"] == 0
    replayed = read_all(log, target, 2)
    assert len(replayed) == len(originals)
    got = sorted((r.key, r.value, stripped(r.headers), r.timestamp) for r in replayed)
    want = sorted((o.key, o.value, o.headers, o.timestamp) for o in originals)
    assert got == want
    origins = {r.header(REPLAYED_FROM) for r in replayed}
    assert origins == {f"{dlq}/0/{n}".encode() for n in range(len(originals))}


def test_replay_filters_and_defaults_to_the_source_partition(
    url: str, log: Log, scenario: tuple[str, str, list[Record]]
) -> None:
    source, dlq, originals = scenario
    result = run(url, "dlq", "replay", dlq, "--filter-step", "parse", "-g", unique("replay"))
    assert "Replayed 3 records" in result.output
    everything = read_all(log, source, 2, expect=len(originals) + 3)
    replayed = [r for r in everything if r.header(REPLAYED_FROM) is not None]
    parse_originals = [o for i, o in enumerate(originals) if STEPS[i] == "parse"]
    assert sorted((r.partition, r.key, r.value) for r in replayed) == sorted(
        (o.partition, o.key, o.value) for o in parse_originals
    )
    by_type = json.loads(
        run(url, "dlq", "replay", dlq, "--to", source, "--filter-error-type", "ValueError",
            "-g", unique("replay"), "--json").output
    )  # fmt: skip
    assert (by_type["replayed"], by_type["filtered"]) == (3, 3)


def test_replay_to_a_missing_topic_fails_clearly(
    url: str, scenario: tuple[str, str, list[Record]]
) -> None:
    _, dlq, _ = scenario
    missing = unique("missing")
    result = CliRunner().invoke(cli, ["dlq", "replay", dlq, "--to", missing, "--broker", url])
    assert result.exit_code == 1
    assert missing in result.output and "does not exist" in result.output
