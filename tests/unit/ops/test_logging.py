"""Structured logging: context fields in text and JSON output."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from strom.errors import ConfigError
from strom.ops.logging import ContextLogger, configure


@pytest.fixture
def logger_name(request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"strom.test.{request.node.name}"
    yield name
    target = logging.getLogger(name)
    for handler in list(target.handlers):
        target.removeHandler(handler)


def test_json_lines_carry_context_and_exception(logger_name: str) -> None:
    out = io.StringIO()
    configure(level="DEBUG", fmt="json", stream=out, logger=logger_name)
    log = ContextLogger(logging.getLogger(logger_name), app="shop", step="price")
    try:
        raise ValueError("bad")
    except ValueError:
        log.with_context(topic="orders", partition=2).exception(
            "step failed at %s", "offset 41", extra={"offset": 41, "step": "override"}
        )
    entry = orjson.loads(out.getvalue())
    assert entry["message"] == "step failed at offset 41"
    assert entry["level"] == "ERROR"
    assert entry["logger"] == logger_name
    assert (entry["app"], entry["step"], entry["topic"], entry["partition"], entry["offset"]) == (
        "shop", "override", "orders", 2, 41,
    )  # fmt: skip
    assert "ValueError: bad" in entry["exception"]
    assert isinstance(entry["ts"], int)


def test_text_output_appends_context_pairs(logger_name: str) -> None:
    out = io.StringIO()
    configure(fmt="text", stream=out, logger=logger_name)
    logging.getLogger(logger_name).warning(
        "retrying", extra={"step": "price", "partition": 0, "offset": 7}
    )
    line = out.getvalue().strip()
    assert line.endswith("WARNING " + logger_name + ": retrying step=price partition=0 offset=7")


def test_configure_twice_does_not_duplicate_lines(logger_name: str) -> None:
    out = io.StringIO()
    configure(fmt="text", stream=out, logger=logger_name)
    configure(fmt="text", stream=out, logger=logger_name)
    logging.getLogger(logger_name).info("once")
    assert out.getvalue().count("once") == 1


def test_level_filters(logger_name: str) -> None:
    out = io.StringIO()
    configure(level="WARNING", fmt="json", stream=out, logger=logger_name)
    logging.getLogger(logger_name).info("hidden")
    assert out.getvalue() == ""


@pytest.mark.parametrize("kwargs", [{"fmt": "xml"}, {"level": "LOUD"}])
def test_bad_settings_are_config_errors(kwargs: dict[str, str], logger_name: str) -> None:
    with pytest.raises(ConfigError):
        configure(logger=logger_name, **kwargs)  # type: ignore[arg-type]
