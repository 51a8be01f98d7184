"""Topic lookups in the broker's metadata, shared by the producer, consumer and admin.

A lookup always asks the broker (librdkafka's ``list_topics(topic)`` sends a request), so a
topic created a moment ago by another client is seen, and a missing one is reported as
:class:`~strom.errors.TopicNotFoundError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaException

from strom.errors import TopicNotFoundError
from strom.log.kafka.errors import translate


class MetadataClient(Protocol):
    """What every confluent-kafka client offers: ``list_topics``."""

    def list_topics(self, topic: str | None = ..., timeout: float = ...) -> Any: ...


def partition_count(
    client: MetadataClient, topic: str, action: str, *, bootstrap: str, timeout: float
) -> int:
    """Number of partitions of ``topic``.

    Raises:
        TopicNotFoundError: the topic does not exist (the message names it and what to do).
        BrokerError: the broker did not answer within ``timeout``.
    """
    try:
        meta = client.list_topics(topic=topic, timeout=timeout)
    except KafkaException as exc:
        raise translate(exc, action, topic=topic, bootstrap=bootstrap) from None
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        detail = f" ({info.error.str()})" if info is not None and info.error is not None else ""
        raise TopicNotFoundError(
            f"{action} failed: topic {topic!r} does not exist{detail}; create it first "
            "(Admin.create_topics or `strom topics create`)"
        )
    return len(info.partitions)


def partition_counts(
    client: MetadataClient,
    topics: Sequence[str],
    action: str,
    *,
    bootstrap: str,
    timeout: float,
) -> dict[str, int]:
    """:func:`partition_count` of each topic."""
    return {
        topic: partition_count(client, topic, action, bootstrap=bootstrap, timeout=timeout)
        for topic in topics
    }
