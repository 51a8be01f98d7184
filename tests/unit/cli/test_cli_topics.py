"""``strom topics``: create, list, describe, delete, with tables, JSON and clear errors."""

from __future__ import annotations

import orjson

from tests.unit.cli.conftest import Strom


def test_create_list_describe_delete(strom: Strom) -> None:
    created = strom("topics", "create", "orders", "--partitions", "3", "-c", "retention.ms=60000")
    assert created.exit_code == 0, created.output
    assert "Created topic 'orders' with 3 partitions." in created.stderr

    listed = strom("topics", "list")
    assert listed.exit_code == 0
    assert "orders" in listed.stdout
    assert "3" in listed.stdout

    described = strom("topics", "describe", "orders")
    assert described.exit_code == 0
    assert "Topic orders: 3 partitions" in described.stdout
    assert "retention.ms" in described.stdout
    assert "60000" in described.stdout

    deleted = strom("topics", "delete", "orders", "--yes")
    assert deleted.exit_code == 0
    assert "Deleted 'orders'." in deleted.stderr
    assert orjson.loads(strom("topics", "list", "--json").stdout) == []


def test_list_and_describe_json(strom: Strom) -> None:
    strom("topics", "create", "b", "-p", "2", "--config", "cleanup.policy=compact")
    strom("topics", "create", "a")
    topics = orjson.loads(strom("topics", "list", "--json").stdout)
    assert topics == [
        {"name": "a", "partitions": 1, "compacted": False},
        {"name": "b", "partitions": 2, "compacted": True},
    ]
    strom("produce", "b", "-K", ":", input="k1:v1\nk1:v2\n")
    described = orjson.loads(strom("topics", "describe", "b", "--json").stdout)
    assert described["name"] == "b"
    assert described["partitions"] == 2
    assert described["config"]["cleanup.policy"] == "compact"
    assert sorted(described["end_offsets"]) == [0, 2]


def test_create_existing_topic_fails_unless_if_not_exists(strom: Strom) -> None:
    assert strom("topics", "create", "t").exit_code == 0
    again = strom("topics", "create", "t")
    assert again.exit_code == 1
    assert again.stderr.startswith("Error: ")
    assert "'t'" in again.stderr
    assert "Traceback" not in again.output
    tolerant = strom("topics", "create", "t", "--if-not-exists")
    assert tolerant.exit_code == 0
    assert "already exists" in tolerant.stderr


def test_describe_and_delete_unknown_topic(strom: Strom) -> None:
    described = strom("topics", "describe", "missing")
    assert described.exit_code == 1
    assert "missing" in described.stderr
    deleted = strom("topics", "delete", "missing", "-y")
    assert deleted.exit_code == 1
    assert "missing" in deleted.stderr


def test_delete_asks_first(strom: Strom) -> None:
    strom("topics", "create", "keep")
    refused = strom("topics", "delete", "keep", input="n\n")
    assert refused.exit_code == 1
    assert "Delete 'keep' and all their records?" in refused.stderr
    assert orjson.loads(strom("topics", "list", "--json").stdout)[0]["name"] == "keep"
    confirmed = strom("topics", "delete", "keep", input="y\n")
    assert confirmed.exit_code == 0
    assert orjson.loads(strom("topics", "list", "--json").stdout) == []


def test_bad_usage_exits_2(strom: Strom) -> None:
    assert strom("topics", "create", "x", "--partitions", "0").exit_code == 2
    bad_config = strom("topics", "create", "x", "--config", "retention.ms")
    assert bad_config.exit_code == 2
    assert "'retention.ms' is not NAME=VALUE" in bad_config.stderr
    assert strom("topics", "create").exit_code == 2


def test_empty_list(strom: Strom) -> None:
    result = strom("topics", "list")
    assert result.exit_code == 0
    assert "No topics." in result.stderr
