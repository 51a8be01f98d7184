"""The examples of the README and the docs run as written, on both logs.

Python blocks of each file run in order in one namespace, in a fresh working directory, with
``$STROM_BROKER`` naming the log (the examples open the default log or name the embedded one
explicitly). The README's command-line walk-through runs line by line through the installed
``strom``. On Kafka the names the examples use are cleared first: the broker is shared.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import orjson
import pytest

from tests.integration.cli.support import WAIT, environment

REPO = Path(__file__).resolve().parents[3]
DOCS = ["README.md", "docs/log.md", "docs/local-log.md", "docs/stream-processing.md"]
DOCS += ["docs/operations.md"]
"""Files whose Python examples run here. Not run: docs/event-sourcing.md and docs/cdc.md
(they name a PostgreSQL server and a Kafka cluster of the reader's; their APIs run in
tests/integration/es and cdc). docs/state.md, windows.md and joins.md show API shapes in
``text`` blocks; their joins and windows run in the README's and stream-processing.md's."""

TOPICS = ["events", "user-events", "logins-by-country", "orders", "priced-orders", "shop-dlq"]
GROUPS = ["readers"]
"""What the examples name on the log."""


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return f"local://{tmp_path / 'log'}"
    return str(request.getfixturevalue("kafka_url"))


def clear(url: str) -> None:
    """Remove the examples' topics and groups from a Kafka broker (the embedded logs are new)."""
    if not url.startswith("kafka://"):
        return
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": url.removeprefix("kafka://")})
    for future in admin.delete_consumer_groups(GROUPS, request_timeout=WAIT).values():
        with contextlib.suppress(Exception):  # the group does not exist (yet)
            future.result()
    present = set(admin.list_topics(timeout=WAIT).topics) & set(TOPICS)
    if present:
        for future in admin.delete_topics(sorted(present)).values():
            future.result()
    deadline = time.monotonic() + WAIT
    while set(admin.list_topics(timeout=WAIT).topics) & set(TOPICS):
        assert time.monotonic() < deadline, "the examples' topics were not deleted in time"
        time.sleep(0.2)


@pytest.mark.parametrize("doc", DOCS)
def test_python_examples_run_as_written(
    doc: str, log_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = blocks((REPO / doc).read_text(), "python")
    assert code, f"{doc} has no Python example"
    clear(log_url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STROM_BROKER", log_url)
    # The blocks run as one script would: a module of its own (dataclasses look it up).
    module = types.ModuleType("docs_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for number, block in enumerate(code, start=1):
        try:
            exec(compile(block, f"{doc} example {number}", "exec"), module.__dict__)
        except Exception as exc:
            raise AssertionError(f"{doc} example {number} failed on {log_url}: {exc!r}") from exc


def test_readme_command_line_runs_as_written(log_url: str, tmp_path: Path) -> None:
    (shell,) = [b for b in blocks((REPO / "README.md").read_text(), "sh") if "strom topics" in b]
    commands = [
        line.split("  #")[0].strip()
        for line in shell.replace("\\\n", " ").splitlines()
        if line.strip() and not line.startswith(("make ", "export "))
    ]
    assert len(commands) >= 7, commands
    clear(log_url)
    # The installed strom first on the PATH, as after activating the venv.
    path = f"{Path(sys.executable).parent}:{environment().get('PATH', '/usr/bin:/bin')}"
    env = environment({"STROM_BROKER": log_url, "PATH": path})
    for command in commands:
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=2 * WAIT,
        )
        assert done.returncode == 0, f"{command!r} on {log_url}:\n{done.stdout}\n{done.stderr}"
    lag = subprocess.run(
        ["strom", "lag", "--group", "readers", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=2 * WAIT,
    )
    rows = orjson.loads(lag.stdout)
    assert [(r["partition"], r["committed"]) for r in rows] == [
        (0, 0),
        (1, 0),
        (2, 2),
        (3, 0),
        (4, 0),
        (5, 0),
    ]


def test_make_demo_runs_on_its_own_log_whatever_strom_broker_says() -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "strom.demo", "--events", "100"],
        env=environment({"STROM_BROKER": "kafka://127.0.0.1:9"}),  # nothing listens there
        capture_output=True,
        text=True,
        timeout=2 * WAIT,
    )
    assert demo.returncode == 0, demo.stderr
    assert "logins" in demo.stdout.lower()
