"""The fluent API: streams of records and the immutable operator graph behind them.

Example:
    >>> import strom
    >>> app = strom.App("docs-dsl")
    >>> events, out = app.topic("events"), app.topic("out")
    >>> app.stream(events).filter(lambda e: e["ok"], name="ok").to(out)
"""

from strom.dsl.stream import Stream
from strom.dsl.topic import Topic

__all__ = ["Stream", "Topic"]
