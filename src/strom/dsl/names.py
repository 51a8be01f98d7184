"""Names of applications, topics and steps: validation and stable automatic names.

Application and step names become parts of topic names (``{app}-{step}-repartition``), consumer
group ids and, later, state store and metric names, so they follow Kafka's topic-name rules:
ASCII letters, digits, ``.``, ``_`` and ``-``, at most 249 characters.

Example:
    >>> validate_name("login-stats", "application")
    'login-stats'
    >>> try:
    ...     validate_name("by user", "step")
    ... except ConfigError as exc:
    ...     print(str(exc).split(":")[0])
    step name 'by user' is not valid
"""

from __future__ import annotations

import re

from strom.errors import ConfigError

MAX_TOPIC_NAME = 249
"""Kafka's limit on topic name length."""

_LEGAL = re.compile(r"^[A-Za-z0-9._-]+$")


def validate_name(name: object, what: str, *, max_length: int = MAX_TOPIC_NAME) -> str:
    """Return ``name`` if it is a legal application, topic or step name, else raise.

    Args:
        name: the name to check.
        what: what is named (``"application"``, ``"step"``, ``"topic"``), for the message.
        max_length: the longest allowed name.

    Raises:
        ConfigError: naming the bad name and the rule.
    """
    if not isinstance(name, str):
        raise ConfigError(f"{what} name must be a str, got {type(name).__name__} {name!r}")
    if not _LEGAL.match(name) or len(name) > max_length or name in (".", ".."):
        raise ConfigError(
            f"{what} name {name!r} is not valid: use only ASCII letters, digits, '.', '_' and '-' "
            f"(at most {max_length} characters)"
        )
    return name


def repartition_topic(app: str, step: str) -> str:
    """The internal topic through which step ``step`` of ``app`` repartitions its records.

    Example:
        >>> repartition_topic("login-stats", "by-user")
        'login-stats-by-user-repartition'
    """
    return f"{app}-{step}-repartition"


class StepNames:
    """Registry of the step names of one application: unique, legal, stable when generated.

    Generated names count per kind in declaration order (``map-1``, ``map-2``, ``filter-1``), so
    the same program always yields the same names. Give explicit names to steps whose names
    reach the outside (repartition topics, later state stores): they survive edits of the code.
    """

    def __init__(self, app: str) -> None:
        self._app = app
        self._taken: set[str] = set()
        self._counters: dict[str, int] = {}

    def claim(self, name: str | None, kind: str) -> str:
        """Validate and reserve ``name``, or generate ``{kind}-{n}`` when it is None.

        Raises:
            ConfigError: the name is illegal or another step already uses it.
        """
        if name is None:
            n = self._counters.get(kind, 0)
            while True:
                n += 1
                candidate = f"{kind}-{n}"
                if candidate not in self._taken:
                    break
            self._counters[kind] = n
            name = candidate
        else:
            # Room for the longest derived topic name, '{app}-{step}-repartition'.
            room = MAX_TOPIC_NAME - len(repartition_topic(self._app, ""))
            validate_name(name, "step", max_length=max(room, 1))
            if name in self._taken:
                raise ConfigError(
                    f"step name {name!r} is used twice in application {self._app!r}: "
                    "every step needs its own name"
                )
        self._taken.add(name)
        return name

    def __contains__(self, name: object) -> bool:
        return name in self._taken
