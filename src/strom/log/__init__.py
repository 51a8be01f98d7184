"""The log layer: one interface over Apache Kafka and the embedded durable log.

Example:
    >>> import strom.log, tempfile
    >>> log = strom.log.connect("local://" + tempfile.mkdtemp())
    >>> log.admin().create_topics([strom.log.TopicSpec("events", partitions=2)])
    >>> producer = log.producer()
    >>> producer.send("events", b'{"action": "login"}', key=b"user-1")
    >>> producer.flush()
    >>> consumer = log.consumer("readers")
    >>> consumer.subscribe(["events"])
    >>> [r.value for r in consumer.poll(timeout=5.0)]
    [b'{"action": "login"}']
    >>> consumer.close(); producer.close(); log.close()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strom.log.protocols import Admin, Consumer, DeliveryCallback, Log, Producer, RebalanceCallback
from strom.log.types import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Headers,
    PartitionLag,
    Record,
    RecordMetadata,
    TopicDescription,
    TopicPartition,
    TopicSpec,
)
from strom.log.url import LogURL, choose_url, default_url, mask_url, parse_url

__all__ = [
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "Admin",
    "Consumer",
    "DeliveryCallback",
    "Headers",
    "Log",
    "LogURL",
    "PartitionLag",
    "Producer",
    "RebalanceCallback",
    "Record",
    "RecordMetadata",
    "TopicDescription",
    "TopicPartition",
    "TopicSpec",
    "choose_url",
    "connect",
    "default_url",
    "mask_url",
    "parse_url",
]


def connect(url: str | None = None, options: Mapping[str, Any] | None = None) -> Log:
    """Open the log named by ``url`` (default: :func:`default_url`).

    Args:
        url: ``kafka://host:port[,host:port][?setting=value]`` or ``local://PATH``.
        options: backend settings; for Kafka any librdkafka setting (``security.protocol``,
            ``sasl.mechanism``, ``ssl.ca.location``, ...), merged over the URL's query.

    Raises:
        ConfigError: the URL is malformed or names an unknown scheme.
    """
    parsed = parse_url(url or default_url())
    merged: dict[str, Any] = {**parsed.options, **(options or {})}
    if parsed.scheme == "kafka":
        from strom.log.kafka import KafkaLog

        return KafkaLog(parsed.location, merged)
    from strom.log.local import LocalLog

    return LocalLog(parsed.location, merged)
