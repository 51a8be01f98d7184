"""Every example in the embedded log's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "strom.log.local",
    "strom.log.local.assignors",
    "strom.log.local.config",
    "strom.log.local.index",
    "strom.log.local.locks",
    "strom.log.local.log",
    "strom.log.local.segment",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module_name} has no examples"
    assert result.failed == 0
