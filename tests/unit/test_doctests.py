"""Every docstring example in the package runs and shows what it says.

One test per module of ``strom`` that has examples to run (found by walking the package, so a
new module is covered without editing this file; a module whose examples are all skipped has
none to run). Examples run in a temporary working directory, because some open the default
embedded log ``local://./.strom``.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import strom

_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
ALL_MODULES = ["strom", *sorted(i.name for i in pkgutil.walk_packages(strom.__path__, "strom."))]


def runnable_examples(name: str) -> int:
    """How many examples of module ``name`` run (skipped ones do not)."""
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    return sum(1 for t in tests for e in t.examples if not e.options.get(doctest.SKIP))


MODULES = [name for name in ALL_MODULES if runnable_examples(name)]


def test_most_modules_have_examples() -> None:
    # Public API modules carry runnable examples (STYLE.md); a drop here means examples vanished.
    assert len(MODULES) >= len(ALL_MODULES) // 3, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STROM_BROKER", raising=False)
    monkeypatch.delenv("STROM_HOME", raising=False)
    result = doctest.testmod(importlib.import_module(name), optionflags=_FLAGS)
    assert result.attempted > 0, f"{name} has examples, yet none ran"
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
