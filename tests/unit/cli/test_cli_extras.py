"""The ``strom`` command runs without the extras; a command that needs one names it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_PROGRAM = textwrap.dedent(
    """
    import sys
    sys.modules["msgspec"] = None  # as if not installed: import raises ImportError
    from click.testing import CliRunner
    from strom.cli.main import cli
    runner = CliRunner()
    listed = runner.invoke(cli, ["--help"])
    print("help", listed.exit_code, "topics" in listed.output, " es " in listed.output)
    used = runner.invoke(cli, ["es", "--help"])
    print("es", used.exit_code, used.output.strip().splitlines()[-1])
    """
)


def test_strom_runs_without_msgspec_and_es_names_the_extra() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    help_line, es_line = run.stdout.splitlines()
    assert help_line == "help 0 True False"
    assert es_line.startswith("es 1 ")
    assert "`strom es` needs 'msgspec', which is not installed: pip install 'strom[msgspec]'" in (
        es_line
    )
