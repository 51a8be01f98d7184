"""The docstring examples of the error-handling and operations modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "strom.error_policies",
    "strom.dead_letter",
    "strom.ops",
    "strom.ops.metrics",
    "strom.ops.health",
    "strom.ops.server",
    "strom.ops.logging",
    "strom.ops.dlq",
    "strom.ops.lag_sampler",
    "strom.failures",
    "strom.runtime.operations",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
