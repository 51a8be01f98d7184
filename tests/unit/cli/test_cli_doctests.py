"""The examples in the CLI modules' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module_name", ["strom.cli.main", "strom.cli.common", "strom.cli.consume"])
def test_docstring_examples(module_name: str) -> None:
    result = doctest.testmod(importlib.import_module(module_name))
    assert result.attempted > 0
    assert result.failed == 0
