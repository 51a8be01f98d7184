"""The Kafka backend of :mod:`strom.log`: Apache Kafka and Kafka-protocol brokers through
confluent-kafka (librdkafka).

Open it with ``strom.log.connect("kafka://host:port[,host:port][?setting=value]")``. Every
librdkafka setting passes through ``options`` (and the URL's query), e.g. for SASL over TLS::

    strom.log.connect(
        "kafka://broker:9093",
        {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
         "sasl.username": "app", "sasl.password": "..."},
    )

Example:
    >>> import strom.log
    >>> log = strom.log.connect("kafka://127.0.0.1:9092")  # doctest: +SKIP
    >>> log.admin().list_topics()  # doctest: +SKIP
    ['orders']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strom.log.kafka.admin import KafkaAdmin
from strom.log.kafka.config import admin_config, consumer_config, producer_config
from strom.log.kafka.consumer import KafkaConsumer
from strom.log.kafka.health import Reachability
from strom.log.kafka.producer import KafkaProducer
from strom.log.types import IsolationLevel, OffsetReset

__all__ = ["KafkaAdmin", "KafkaConsumer", "KafkaLog", "KafkaProducer"]

_OFFSET_RESETS = ("earliest", "latest", "error")
_ISOLATION_LEVELS = ("read_committed", "read_uncommitted")


class KafkaLog:
    """:class:`strom.log.Log` over a Kafka cluster.

    Creating it does not contact the broker: the first call that needs the broker does, and
    fails fast with :class:`~strom.errors.BrokerUnavailableError` naming the address if none
    answers. Invalid librdkafka settings raise :class:`~strom.errors.ConfigError` when the
    first client is created.

    Args:
        bootstrap: ``host:port[,host:port]``, as in the URL.
        options: librdkafka settings for every client of this log.
    """

    def __init__(self, bootstrap: str, options: Mapping[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.options: dict[str, Any] = dict(options or {})
        self.url = f"kafka://{bootstrap}"
        self._reach = Reachability(bootstrap, admin_config(bootstrap, self.options))

    def admin(self) -> KafkaAdmin:
        """A topic and group administration client."""
        return KafkaAdmin(self.bootstrap, admin_config(self.bootstrap, self.options), self._reach)

    def producer(
        self,
        *,
        transactional_id: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> KafkaProducer:
        """A producer (transactional with ``transactional_id``); ``options`` are librdkafka
        settings over the log's."""
        config = producer_config(
            self.bootstrap, self.options, options or {}, transactional_id=transactional_id
        )
        return KafkaProducer(self.bootstrap, config, self._reach, transactional_id=transactional_id)

    def consumer(
        self,
        group_id: str | None = None,
        *,
        auto_offset_reset: OffsetReset = "earliest",
        isolation_level: IsolationLevel = "read_committed",
        options: Mapping[str, Any] | None = None,
    ) -> KafkaConsumer:
        """A consumer (a group member with ``group_id``); offsets are committed explicitly."""
        from strom.errors import ConfigError

        if auto_offset_reset not in _OFFSET_RESETS:
            raise ConfigError(
                f"auto_offset_reset must be one of {_OFFSET_RESETS}, got {auto_offset_reset!r}"
            )
        if isolation_level not in _ISOLATION_LEVELS:
            raise ConfigError(
                f"isolation_level must be one of {_ISOLATION_LEVELS}, got {isolation_level!r}"
            )
        if group_id is not None and not group_id:
            raise ConfigError("group_id must be a non-empty string or None")
        config = consumer_config(
            self.bootstrap,
            self.options,
            options or {},
            group_id=group_id or "",
            auto_offset_reset=auto_offset_reset,
            isolation_level=isolation_level,
        )
        return KafkaConsumer(self.bootstrap, config, self._reach, group_id=group_id)

    def close(self) -> None:
        """Nothing is shared between this log's clients; each closes on its own."""

    def __repr__(self) -> str:
        return f"KafkaLog({self.url!r})"
