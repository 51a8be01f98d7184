"""Every example in the serde docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "strom.serde",
    "strom.serde._describe",
    "strom.serde.avro_compat",
    "strom.serde.avro_serde",
    "strom.serde.json_serde",
    "strom.serde.names",
    "strom.serde.primitives",
    "strom.serde.record",
    "strom.serde.typed",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module_name} has no examples"
    assert result.failed == 0
