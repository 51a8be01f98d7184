"""Client settings for the Kafka backend: strom's defaults, the user's librdkafka settings,
and the construction of confluent-kafka clients with errors mapped to :class:`ConfigError`.

Every librdkafka setting (``security.protocol``, ``sasl.*``, ``ssl.*``, ``linger.ms``, ...)
passes through unchanged; strom only adds defaults and the settings its API names
(``group.id``, ``isolation.level``, ``auto.offset.reset``, ``transactional.id``).

Example:
    >>> cfg = producer_config("127.0.0.1:9092", {"linger.ms": "20"}, {})
    >>> cfg["linger.ms"], cfg["acks"], cfg["partitioner"]
    ('20', 'all', 'murmur2_random')
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException

from strom.errors import ConfigError

CONFIG_DOCS = "https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md"

COMMON_DEFAULTS: dict[str, Any] = {
    "client.id": "strom",
    # Bounds each connection attempt, so an unreachable broker is reported in seconds.
    "socket.connection.setup.timeout.ms": 10_000,
}

PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    # The Java client's partitioner, the same as strom.log.partitioner and the embedded log.
    "partitioner": "murmur2_random",
    "linger.ms": 5,
    "batch.num.messages": 10_000,
    # A typo in a topic name must be an error, not a new topic.
    "allow.auto.create.topics": False,
}

CONSUMER_DEFAULTS: dict[str, Any] = {
    # Offsets are committed explicitly only (the runtime decides when; exactly-once needs it).
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": False,
    "allow.auto.create.topics": False,
}

DEFAULT_MESSAGE_MAX_BYTES = 1_000_000

LIBRDKAFKA_LOGGER = logging.getLogger("strom.log.kafka.librdkafka")


class _DropConfigWarnings(logging.Filter):
    """Hide librdkafka's "X is a producer property and will be ignored by this consumer"
    warnings: the log's options are shared by its producers, consumers and admins."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and args and args[0] == "CONFWARN")


LIBRDKAFKA_LOGGER.addFilter(_DropConfigWarnings())


def _merge(
    bootstrap: str,
    defaults: Mapping[str, Any],
    log_options: Mapping[str, Any],
    client_options: Mapping[str, Any],
    forced: Mapping[str, Any],
) -> dict[str, Any]:
    config: dict[str, Any] = {
        **COMMON_DEFAULTS,
        **defaults,
        "logger": LIBRDKAFKA_LOGGER,
        **log_options,
        **client_options,
        **forced,
    }
    config["bootstrap.servers"] = bootstrap
    return config


def admin_config(bootstrap: str, log_options: Mapping[str, Any]) -> dict[str, Any]:
    """Settings of an admin client."""
    return _merge(bootstrap, {}, log_options, {}, {})


def producer_config(
    bootstrap: str,
    log_options: Mapping[str, Any],
    client_options: Mapping[str, Any],
    *,
    transactional_id: str | None = None,
) -> dict[str, Any]:
    """Settings of a producer: strom's defaults, then the log's and the producer's options."""
    forced = {"transactional.id": transactional_id} if transactional_id else {}
    return _merge(bootstrap, PRODUCER_DEFAULTS, log_options, client_options, forced)


def consumer_config(
    bootstrap: str,
    log_options: Mapping[str, Any],
    client_options: Mapping[str, Any],
    *,
    group_id: str,
    auto_offset_reset: str,
    isolation_level: str,
) -> dict[str, Any]:
    """Settings of a consumer; the arguments of :meth:`Log.consumer` win over options."""
    forced = {
        "group.id": group_id,
        "auto.offset.reset": auto_offset_reset,
        "isolation.level": isolation_level,
    }
    return _merge(bootstrap, CONSUMER_DEFAULTS, log_options, client_options, forced)


def message_max_bytes(config: Mapping[str, Any]) -> int:
    """The producer's record size limit (librdkafka's ``message.max.bytes``)."""
    try:
        return int(config.get("message.max.bytes", DEFAULT_MESSAGE_MAX_BYTES))
    except (TypeError, ValueError):
        raise ConfigError(
            f"message.max.bytes must be an integer, got {config['message.max.bytes']!r}"
        ) from None


def is_cooperative(config: Mapping[str, Any]) -> bool:
    """Whether the consumer group uses incremental (cooperative or KIP-848) rebalancing."""
    strategy = str(config.get("partition.assignment.strategy", ""))
    protocol = str(config.get("group.protocol", "classic"))
    return "cooperative" in strategy or protocol == "consumer"


def with_error_cb(config: dict[str, Any], on_error: Callable[[KafkaError], None]) -> dict[str, Any]:
    """``config`` with ``on_error`` installed as ``error_cb``, chaining the user's own."""
    user_cb = config.get("error_cb")
    if user_cb is None:
        return {**config, "error_cb": on_error}

    def chained(err: KafkaError) -> None:
        on_error(err)
        user_cb(err)

    return {**config, "error_cb": chained}


T = TypeVar("T")


def create_client(factory: Callable[[dict[str, Any]], T], config: dict[str, Any], what: str) -> T:
    """Construct a confluent-kafka client; invalid settings become :class:`ConfigError`."""
    try:
        return factory(config)
    except KafkaException as exc:
        err = exc.args[0] if exc.args else exc
        detail = err.str() if isinstance(err, KafkaError) else str(err)
        raise ConfigError(
            f"invalid Kafka setting for the {what}: {detail}; strom passes options to "
            f"librdkafka unchanged, see {CONFIG_DOCS}"
        ) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid Kafka setting for the {what}: {exc}") from None
