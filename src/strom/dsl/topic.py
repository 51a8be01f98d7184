"""A topic as an application sees it: a name and the serdes of its keys and values.

Declare topics with :meth:`strom.App.topic`; pass them to :meth:`strom.App.stream` to read and
to :meth:`strom.dsl.Stream.to` to write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strom.dsl.names import validate_name
from strom.errors import ConfigError
from strom.serde.base import Serde


@dataclass(frozen=True, slots=True)
class Topic:
    """A declared topic.

    Attributes:
        name: the topic's name in the log.
        key: serde of record keys.
        value: serde of record values.
        partitions: when set, the application creates the topic with this many partitions if
            it does not exist; when None, a missing topic is an error at start.
        config: per-topic configs used when the application creates it (Kafka's names, such as
            ``retention.ms`` or ``cleanup.policy``).
        internal: True for topics the application derives itself (repartition topics).

    Example:
        >>> import strom
        >>> app = strom.App("docs-topic")
        >>> events = app.topic("events", partitions=4)
        >>> events.name, events.partitions, events.key.name, events.value.name
        ('events', 4, 'string', 'json')
    """

    name: str
    key: Serde[Any]
    value: Serde[Any]
    partitions: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    internal: bool = False

    def __post_init__(self) -> None:
        validate_name(self.name, "topic")
        for role, serde in (("key", self.key), ("value", self.value)):
            if not isinstance(serde, Serde):
                raise ConfigError(
                    f"topic {self.name!r}: {role} serde {serde!r} is not a Serde (it needs "
                    "'name', 'serialize' and 'deserialize'); use strom.serde.string(), json(), ..."
                )
        if self.partitions is not None and (
            not isinstance(self.partitions, int) or self.partitions < 1
        ):
            raise ConfigError(
                f"topic {self.name!r}: partitions must be a positive int or None, "
                f"got {self.partitions!r}"
            )
