"""``strom lag``, the command group, --broker precedence and error display."""

from __future__ import annotations

import orjson
from click.testing import CliRunner

from strom.cli.main import COMMANDS, cli
from strom.log import TopicPartition, connect
from tests.unit.cli.conftest import Strom


def test_lag_follows_the_group(strom: Strom) -> None:
    strom("topics", "create", "t", "-p", "2")
    strom("produce", "t", "-K", ":", input="a:1\nb:2\nc:3\nd:4\n")
    assert strom("consume", "t", "-g", "g1", "--from-beginning", "-n", "4").exit_code == 0
    rows = orjson.loads(strom("lag", "--group", "g1", "--json").stdout)
    assert [r["partition"] for r in rows] == [0, 1]
    assert all(r["lag"] == 0 and r["committed"] == r["end_offset"] for r in rows)
    assert sum(r["end_offset"] for r in rows) == 4

    strom("produce", "t", "-p", "1", input="e\nf\n")
    rows = orjson.loads(strom("lag", "-g", "g1", "--json").stdout)
    assert {r["partition"]: r["lag"] for r in rows} == {0: 0, 1: 2}
    table = strom("lag", "-g", "g1")
    assert table.exit_code == 0
    assert "Group g1" in table.stdout
    assert "total" in table.stdout


def test_lag_lists_partitions_never_committed_on(strom: Strom, local_url: str) -> None:
    strom("topics", "create", "t", "-p", "3")
    strom("produce", "t", "-p", "2", input="x\ny\n")
    log = connect(local_url)
    consumer = log.consumer("partial")
    consumer.commit({TopicPartition("t", 0): 0})  # one partition only, as an app may
    consumer.close()
    log.close()
    rows = orjson.loads(strom("lag", "-g", "partial", "--json").stdout)
    assert [(r["partition"], r["committed"], r["end_offset"], r["lag"]) for r in rows] == [
        (0, 0, 0, 0),
        (1, None, 0, None),
        (2, None, 2, None),
    ]
    table = strom("lag", "-g", "partial").stdout.splitlines()
    assert [line.split() for line in table[2:]] == [
        ["t", "0", "0", "0", "0"],
        ["t", "1", "-", "0", "-"],
        ["t", "2", "-", "2", "-"],
        ["total", "0"],
    ]


def test_lag_of_unknown_group(strom: Strom) -> None:
    result = strom("lag", "--group", "nobody")
    assert result.exit_code == 1
    assert "consumer group 'nobody' has no committed offsets" in result.stderr
    assert strom("lag").exit_code == 2


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command.name in result.output


def test_bad_broker_url_is_a_clear_error(strom: Strom) -> None:
    result = strom("topics", "list", broker=["--broker", "kafak://x:1"])
    assert result.exit_code == 1
    assert "unknown scheme 'kafak'" in result.stderr
    assert "Traceback" not in result.output


def test_innermost_broker_option_wins(strom: Strom, local_url: str) -> None:
    strom("topics", "create", "here")
    inner = strom("topics", "list", "--json", "--broker", local_url, broker=["-b", "kafak://x:1"])
    assert inner.exit_code == 0, inner.output
    assert orjson.loads(inner.stdout)[0]["name"] == "here"


def test_broker_from_environment(local_url: str) -> None:
    runner = CliRunner(env={"STROM_BROKER": local_url})
    assert runner.invoke(cli, ["topics", "create", "from-env"]).exit_code == 0
    listed = runner.invoke(cli, ["topics", "list", "--json"])
    assert orjson.loads(listed.stdout)[0]["name"] == "from-env"
    bad = CliRunner(env={"STROM_BROKER": "nope"}).invoke(cli, ["topics", "list"])
    assert bad.exit_code == 1
    assert "'nope' is malformed" in bad.stderr
