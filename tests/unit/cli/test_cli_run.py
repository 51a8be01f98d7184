"""``strom run``: finding the application to run."""

from __future__ import annotations

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
