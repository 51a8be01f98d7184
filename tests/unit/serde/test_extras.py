"""Avro and msgspec are extras: ``import strom`` loads neither (nor the CLI's click and rich),
and a serde that needs a missing one names the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Runs in a fresh interpreter where the extras cannot be imported (None in sys.modules makes
# ``import`` raise ImportError, as when a package is not installed).
_PROGRAM = textwrap.dedent(
    """
    import sys
    import strom
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"fastavro", "avro", "msgspec",
                                                             "click", "rich"})
    print("loaded:", loaded)
    for name in ("fastavro", "avro", "msgspec"):
        sys.modules[name] = None
    from strom.errors import MissingDependencyError
    attempts = {
        "avro": lambda: strom.serde.avro("long"),
        "msgspec_struct": lambda: strom.serde.msgspec_struct(int),
        "dataclass": lambda: strom.serde.dataclass(int),
        "json(model)": lambda: strom.serde.json(model=dict),
    }
    for what, attempt in attempts.items():
        try:
            attempt()
        except MissingDependencyError as exc:
            assert isinstance(exc, ImportError)
            print(what, "->", exc)
        else:
            print(what, "-> no error")
    print("json:", strom.serde.json().deserialize(b"[1]"))
    """
)


def test_import_strom_loads_no_extra_and_a_missing_extra_is_named() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "loaded: []"
    assert "avro -> the avro serde needs the 'fastavro' package" in lines[1]
    assert lines[1].endswith("pip install 'strom[avro]'")
    for line in lines[2:5]:
        assert "needs the 'msgspec' package" in line
        assert line.endswith("pip install 'strom[msgspec]'")
    assert lines[5] == "json: [1]"
