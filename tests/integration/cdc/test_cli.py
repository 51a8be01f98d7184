"""``strom cdc run / status / drop-slot / forget`` as a user runs them."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from strom.cli.main import cli
from tests.integration.cdc.support import (
    drop_slot,
    pg_exec,
    pg_query,
    read_topic,
    uid,
    wait_for,
    wait_slot_active,
)


def strom(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.postgres
def test_run_status_drop_slot_and_forget(postgres_dsn: str, tmp_path: Path) -> None:
    s = f"cli_{uid()}"
    slot = f"strom_{s}"
    pg_exec(postgres_dsn, f"CREATE SCHEMA {s}", f"CREATE TABLE {s}.t (id int PRIMARY KEY)",
            f"INSERT INTO {s}.t VALUES (1)")  # fmt: skip
    url = f"local://{tmp_path / 'log'}"
    run = subprocess.Popen(
        [sys.executable, "-m", "strom.cli.main", "cdc", "run", "--source", postgres_dsn,
         "--tables", f"{s}.t", "--to", url, "--name", s, "--prefix", "cli"],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_slot_active(postgres_dsn, slot)
        pg_exec(postgres_dsn, f"INSERT INTO {s}.t VALUES (2)")
        wait_for(lambda: len(read_topic(url, f"cli.{s}.t")) == 2, 30, "two records")
        busy = CliRunner().invoke(cli, ["cdc", "drop-slot", "--source", postgres_dsn,
                                        "--name", s])  # fmt: skip
        assert busy.exit_code == 1 and f"slot '{slot}' is in use by process" in busy.output
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
        assert run.returncode == 0, err.decode()
        assert b"2 change(s)" in err
        status = strom("cdc", "status", "--source", postgres_dsn, "--slot", slot, "--name", s,
                       "--broker", url, "--json")  # fmt: skip
        data = orjson.loads(status.output)
        [info] = data["slots"]
        assert (info["slot"], info["active"], info["plugin"]) == (slot, False, "pgoutput")
        assert data["stored_position"]["lsn"] == info["confirmed_flush_lsn"]
        text = strom("cdc", "status", "--source", postgres_dsn, "--slot", slot)
        assert slot in text.output and "NO" in text.output
        dropped = strom("cdc", "drop-slot", "--source", postgres_dsn, "--name", s,
                        "--drop-publication")  # fmt: skip
        assert dropped.output.strip() == f"dropped slot {slot}"
        assert not pg_query(postgres_dsn, "SELECT 1 FROM pg_publication WHERE pubname = %s",
                            (slot,))  # fmt: skip
        forgot = strom("cdc", "forget", "--name", s, "--broker", url)
        assert forgot.exit_code == 0
        again = strom("cdc", "status", "--source", postgres_dsn, "--name", s, "--broker", url,
                      "--json")  # fmt: skip
        assert orjson.loads(again.output)["stored_position"] is None
    finally:
        if run.poll() is None:
            run.kill()
        drop_slot(postgres_dsn, slot, slot)
        pg_exec(postgres_dsn, f"DROP SCHEMA {s} CASCADE")


def test_bad_source_urls_are_named() -> None:
    result = CliRunner().invoke(cli, ["cdc", "run", "--source", "oracle://x/db", "--tables",
                                      "a.b", "--to", "local:///tmp/x"])  # fmt: skip
    assert result.exit_code == 1 and "postgresql://, mysql://" in result.output
    result = CliRunner().invoke(cli, ["cdc", "drop-slot", "--source", "mysql://u@h/db",
                                      "--slot", "x"])  # fmt: skip
    assert result.exit_code == 1 and "holds no slot" in result.output


@pytest.mark.mariadb
def test_mysql_status(mariadb_dsn: str) -> None:
    status = strom("cdc", "status", "--source", mariadb_dsn, "--json")
    data = orjson.loads(status.output)
    assert data["file"].startswith("binlog.") and data["position"] > 0
    assert data["files"][-1]["file"] == data["file"]
