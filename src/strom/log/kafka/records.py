"""librdkafka messages into strom's immutable :class:`~strom.log.Record` (the hot path).

Example:
    >>> records, errors = to_records([])
    >>> records, errors
    ([], [])
"""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import KafkaError, Message

from strom.log.types import Record, make_record


def to_records(messages: Sequence[Message]) -> tuple[list[Record], list[Message]]:
    """The records among ``messages``, and the error events reported next to them.

    Partition-EOF events are neither. Records after an error are kept: the caller decides
    what an error means, so no record is lost.
    """
    out: list[Record] = []
    append = out.append
    errors: list[Message] = []
    for msg in messages:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                errors.append(msg)
            continue
        headers = msg.headers()
        # A fetched message always has topic, partition and offset (the stubs say Optional);
        # header values are bytes or None (Kafka's null header), never str.
        append(
            make_record(
                msg.topic(),  # type: ignore[arg-type]
                msg.partition(),  # type: ignore[arg-type]
                msg.offset(),  # type: ignore[arg-type]
                msg.key(),
                msg.value(),
                msg.timestamp()[1],
                tuple((n, v or b"") for n, v in headers)  # type: ignore[misc, str-unpack]
                if headers
                else (),
            )
        )
    return out, errors
