"""Structured logging: records carry step / topic / partition / offset context.

strom logs through the standard :mod:`logging` module under the ``strom`` logger. Context
fields travel in ``extra=`` (or a :class:`ContextLogger` that adds them for you), and both
formatters show them: :class:`TextFormatter` as ``key=value`` pairs after the message,
:class:`JsonFormatter` as one JSON object per line (via orjson), for log shippers.

Context fields: ``app``, ``step``, ``topic``, ``partition``, ``offset``, ``group`` (and any
other ``extra=`` keys, which the JSON formatter includes as well).

Example:
    >>> import io, logging
    >>> out = io.StringIO()
    >>> handler = configure(level="INFO", fmt="json", stream=out, logger="demo")
    >>> log = ContextLogger(logging.getLogger("demo"), app="orders")
    >>> log.with_context(step="price").warning("bad record", extra={"offset": 41})
    >>> import orjson
    >>> line = orjson.loads(out.getvalue())
    >>> line["message"], line["app"], line["step"], line["offset"], line["level"]
    ('bad record', 'orders', 'price', 41, 'WARNING')
    >>> logging.getLogger("demo").removeHandler(handler)
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal, TextIO

import orjson

from strom.errors import ConfigError

LogFormat = Literal["text", "json"]

CONTEXT_FIELDS = ("app", "step", "topic", "partition", "offset", "group")
"""Context fields shown by both formatters, in this order."""

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of ``record``: known context fields first, then the rest."""
    extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
    ordered = {k: extra.pop(k) for k in CONTEXT_FIELDS if k in extra}
    ordered.update(extra)
    return ordered


class TextFormatter(logging.Formatter):
    """``2024-05-01 12:00:00,123 WARNING strom.runtime: message step=price offset=41``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = context_of(record)
        if not context:
            return text
        pairs = " ".join(f"{k}={v}" for k, v in context.items())
        head, sep, tail = text.partition("\n")  # keep tracebacks below the context
        return f"{head} {pairs}{sep}{tail}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (epoch ms), ``level``, ``logger``, ``message``, the
    context fields, and ``exception`` (formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": int(record.created * 1000),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(context_of(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that adds fixed context fields to every record; ``extra=`` at the call adds
    more (and wins on a clash).

    Example:
        >>> log = ContextLogger(logging.getLogger("strom.demo"), app="orders")
        >>> log.with_context(step="price", topic="orders", partition=3).extra["step"]
        'price'
    """

    def __init__(self, logger: logging.Logger, **context: Any) -> None:
        super().__init__(logger, context)

    def with_context(self, **context: Any) -> ContextLogger:
        """A logger with these fields added to this one's."""
        return ContextLogger(self.logger, **{**(self.extra or {}), **context})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        given: Mapping[str, Any] = kwargs.get("extra") or {}
        kwargs["extra"] = {**(self.extra or {}), **given}
        return msg, kwargs


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time of each record (like logging's
    last-resort handler), so a handler configured once keeps working when stderr is swapped,
    e.g. by a test runner capturing output."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass  # StreamHandler.__init__ assigns one; ours is always the current stderr


def configure(
    *,
    level: int | str = "INFO",
    fmt: LogFormat = "text",
    stream: TextIO | None = None,
    logger: str = "strom",
) -> logging.Handler:
    """Send ``logger``'s records (``strom`` by default) to ``stream`` as text or JSON; by
    default to the process's stderr (the current ``sys.stderr`` at each record).

    Replaces a handler installed by an earlier call on the same logger, so calling it twice
    does not double every line. Returns the handler.

    Raises:
        ConfigError: ``fmt`` or ``level`` is unknown.
    """
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
    elif fmt == "text":
        formatter = TextFormatter()
    else:
        raise ConfigError(f"log format {fmt!r} is unknown: use 'text' or 'json'")
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise ConfigError(f"log level {level!r} is unknown: use DEBUG, INFO, WARNING, ERROR")
        level = resolved
    target = logging.getLogger(logger)
    for old in list(target.handlers):
        if getattr(old, "_strom_handler", False):
            target.removeHandler(old)
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.setFormatter(formatter)
    handler._strom_handler = True  # type: ignore[attr-defined]  # marks ours for replacement
    target.addHandler(handler)
    target.setLevel(level)
    return handler
