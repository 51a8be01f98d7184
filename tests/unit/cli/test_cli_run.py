"""``strom run``: finding the application to run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from strom.cli.main import cli


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", *args])
    return result.exit_code, result.output


def test_missing_module_is_a_clear_error() -> None:
    code, output = invoke("no_such_module_anywhere:app")
    assert code == 1
    assert "cannot import module 'no_such_module_anywhere'" in output


def test_missing_attribute_and_non_app_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_pipeline.py").write_text("import strom\nnot_an_app = 42\n")
    monkeypatch.chdir(tmp_path)
    code, output = invoke("my_pipeline:app")
    assert code == 1 and "module 'my_pipeline' has no attribute 'app'" in output
    code, output = invoke("my_pipeline.py:not_an_app")
    assert code == 1 and "is a int, not a strom.App" in output


def test_runs_an_app_that_fails_at_start_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty_app.py").write_text(
        "import strom\napp = strom.App('empty', broker='local://" + str(tmp_path / "log") + "')\n"
    )
    monkeypatch.chdir(tmp_path)
    code, output = invoke("empty_app")
    assert code == 1
    assert "application 'empty' has no pipeline" in output


APP_WITH_A_BAD_RECORD = """
import strom
from strom.errors import skip

app = strom.App("logged", broker={url!r}, commit_interval=0.05)
events = app.topic("events", partitions=1)
seen = []

def check(value):
    if value["n"] == 1:
        raise ValueError("n must not be 1")
    return value

def stop_at_the_end(value):
    seen.append(value)
    if value["n"] == 2:
        app.stop()

app.stream(events).map(check, name="check", on_error=skip()).for_each(stop_at_the_end, name="end")
"""


def write_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module ``logged_app`` whose app stops after its three records; returns its log URL."""
    url = f"local://{tmp_path / 'log'}"
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "logged_app.py").write_text(APP_WITH_A_BAD_RECORD.format(url=url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "logged_app", raising=False)  # another test's app
    result = CliRunner().invoke(cli, ["--broker", url, "topics", "create", "events"])
    assert result.exit_code == 0, result.output
    lines = "".join(f'{{"n": {n}}}\n' for n in range(3))
    result = CliRunner().invoke(cli, ["--broker", url, "produce", "events"], input=lines)
    assert result.exit_code == 0, result.output
    return url


def test_root_log_format_json_gives_run_lines_with_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_app(tmp_path, monkeypatch)
    result = CliRunner().invoke(cli, ["--log-format", "json", "run", "logged_app:app"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines, result.stderr
    assert all(line["app"] == "logged" for line in lines if line["logger"].startswith("strom.r"))
    (failure,) = [line for line in lines if line["level"] == "WARNING"]
    assert failure["message"].startswith("step 'check' failed on events/0@1")
    assert (failure["step"], failure["topic"], failure["partition"], failure["offset"]) == (
        "check", "events", 0, 1,
    )  # fmt: skip
    assert any(line["message"].startswith("application 'logged' started") for line in lines)


def test_log_level_of_the_root_applies_and_run_options_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_app(tmp_path, monkeypatch)
    result = CliRunner().invoke(cli, ["--log-level", "warning", "run", "logged_app:app"])
    assert result.exit_code == 0, result.output
    assert "started" not in result.stderr  # INFO is below WARNING
    assert "step 'check' failed on events/0@1" in result.stderr
    assert "app=logged step=check topic=events partition=0 offset=1" in result.stderr
    # The run command's own options override the root's.
    write_app(tmp_path / "again", monkeypatch)
    result = CliRunner().invoke(
        cli, ["--log-format", "json", "run", "logged_app:app", "--log-format", "text"]
    )
    assert result.exit_code == 0, result.output
    assert not any(line.startswith("{") for line in result.stderr.splitlines())


def test_unknown_log_level_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["--log-level", "LOUD", "topics", "list"])
    assert result.exit_code == 2
    assert "'LOUD' is not one of" in result.output
