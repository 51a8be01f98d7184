"""strom: production event streaming for Python.

Stream processing over Apache Kafka or an embedded durable log, with one API.

Example:
    >>> import strom
    >>> app = strom.App("hello")
    >>> events, out = app.topic("events"), app.topic("out")
    >>> app.stream(events).map(lambda e: {**e, "seen": True}, name="mark").to(out)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strom import context, errors, serde, sinks
from strom.app import App
from strom.dsl import Stream, Topic
from strom.errors import StromError

if TYPE_CHECKING:
    from strom import joins, testing, windows

__version__ = "0.1.0"

__all__ = [
    "App",
    "Stream",
    "StromError",
    "Topic",
    "__version__",
    "context",
    "errors",
    "joins",
    "serde",
    "sinks",
    "testing",
    "windows",
]


def __getattr__(name: str) -> Any:
    # strom.testing is for tests, strom.windows for stateful apps: loaded on first use.
    if name == "testing":
        import strom.testing

        return strom.testing
    if name == "windows":
        import strom.windows

        return strom.windows
    if name == "joins":
        import strom.joins

        return strom.joins
    raise AttributeError(f"module 'strom' has no attribute {name!r}")
