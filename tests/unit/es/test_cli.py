"""``strom es``: streams, show (audit), state as of a time, follow, on the embedded store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import strom.es as es
from strom.cli.main import cli
from tests.unit.es.bank import Account, registry

REGISTRY = registry()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite://{tmp_path / 'events.db'}"
    store = es.connect(url)
    repo = es.Repository(store, Account, REGISTRY)
    account = Account("a1")
    account.open("ada")
    repo.save(account, metadata=es.metadata(actor="ada", reason="signup"))
    time.sleep(0.005)  # a distinct millisecond for the second append
    account.deposit(30)
    repo.save(account, metadata=es.metadata(actor="teller", reason="cash"))
    store.append("other-1", [es.NewEvent("Note", b'{"text":"hi"}')])
    store.close()
    return url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["es", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_streams(store_url: str) -> None:
    code, out = run("--store", store_url, "streams", "--json")
    assert code == 0
    assert [(s["stream"], s["version"]) for s in json.loads(out)] == [
        ("Account-a1", 2),
        ("other-1", 1),
    ]
    code, out = run("--store", store_url, "streams", "--prefix", "Acc")
    assert code == 0 and "Account-a1" in out and "other-1" not in out


def test_show_is_the_audit_trail(store_url: str) -> None:
    code, out = run("--store", store_url, "show", "Account-a1", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [
        (e["version"], e["type"], e["metadata"]["actor"], e["metadata"]["reason"]) for e in lines
    ] == [
        (1, "Opened", "ada", "signup"),
        (2, "Deposited", "teller", "cash"),
    ]
    assert lines[1]["data"] == {"amount": 30} and lines[1]["time"].endswith("+00:00")
    code, out = run("--store", store_url, "show", "Account-a1")
    assert code == 0 and "teller" in out and "Deposited v1" in out
    code, out = run("--store", store_url, "show", "nope")
    assert code == 1 and "stream 'nope' does not exist" in out


def test_state_now_and_as_of_a_time(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))
    spec = [
        "--aggregate",
        "tests.unit.es.bank:Account",
        "--registry",
        "tests.unit.es.test_cli:REGISTRY",
    ]
    code, out = run("--store", store_url, "state", "a1", *spec)
    assert code == 0, out
    assert json.loads(out) == {
        "id": "a1",
        "version": 2,
        "state": {"owner": "ada", "balance": 30, "frozen": False, "movements": [30]},
    }
    store = es.connect(store_url)
    first = store.read("Account-a1")[0].timestamp
    store.close()
    code, out = run("--store", store_url, "state", "a1", *spec, "--as-of", str(first))
    assert code == 0 and json.loads(out)["state"]["balance"] == 0
    code, out = run("--store", store_url, "state", "a1", *spec, "--as-of", "2001-01-01T00:00:00")
    assert code == 2 and "no time zone" in out
    code, out = run("--store", store_url, "state", "a1", *spec, "--as-of", "2001-01-01T00:00:00Z")
    assert code == 1 and "has no events" in out


def test_follow_with_a_durable_checkpoint(store_url: str) -> None:
    code, out = run("--store", store_url, "follow", "--name", "cli", "--max", "2")
    assert code == 0 and [json.loads(x)["position"] for x in out.splitlines()] == [1, 2]
    code, out = run("--store", store_url, "follow", "--name", "cli", "--idle-timeout", "1")
    assert code == 0 and [json.loads(x)["position"] for x in out.splitlines()] == [3]
    code, out = run("--store", store_url, "follow", "--from", "2", "--max", "1")
    assert [json.loads(x)["type"] for x in out.splitlines()] == ["Deposited"]


def test_missing_store_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STROM_ES_STORE", raising=False)
    code, out = run("streams")
    assert code == 1 and "--store" in out
