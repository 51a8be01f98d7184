"""Testing helpers: run an application in-process on a temporary embedded log.

Example:
    >>> import strom
    >>> app = strom.App("docs-testing")
    >>> events, out = app.topic("events"), app.topic("out")
    >>> app.stream(events).map(lambda e: e["n"] * 2, name="double").to(out)
    >>> with strom.testing.TestDriver(app) as driver:
    ...     driver.send(events, {"n": 21})
    ...     driver.read(out)
    [42]
"""

from strom.testing.driver import OutputRecord, TestDriver

__all__ = ["OutputRecord", "TestDriver"]
