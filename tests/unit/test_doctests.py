"""Every docstring example in the package runs and shows what it says.

One test per module of ``strom`` (found by walking the package, so a new module is covered
without editing this file). Examples run in a temporary working directory, because some open
the default embedded log ``local://./.strom``.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import strom

_SUBMODULES = sorted(info.name for info in pkgutil.walk_packages(strom.__path__, "strom."))
MODULES = ["strom", *_SUBMODULES]


def test_most_modules_have_examples() -> None:
    with_examples = [
        name
        for name in MODULES
        if doctest.DocTestFinder().find(importlib.import_module(name))
        and any(t.examples for t in doctest.DocTestFinder().find(importlib.import_module(name)))
    ]
    # Public API modules carry runnable examples (STYLE.md); a drop here means examples vanished.
    assert len(with_examples) >= len(MODULES) // 3, with_examples


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STROM_BROKER", raising=False)
    monkeypatch.delenv("STROM_HOME", raising=False)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
