"""librdkafka messages into strom's immutable :class:`~strom.log.Record` (the hot path).

Example:
    >>> records, error = to_records([], "127.0.0.1:9092")
    >>> records, error
    ([], None)
"""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import KafkaError, Message

from strom.errors import StromError
from strom.log.kafka.errors import translate
from strom.log.types import Record, make_record


def to_records(
    messages: Sequence[Message], bootstrap: str
) -> tuple[list[Record], StromError | None]:
    """The records among ``messages`` and the first error reported next to them.

    Partition-EOF events are not errors. Records after an error are kept: the caller decides
    when to raise, so no record is lost.
    """
    out: list[Record] = []
    append = out.append
    first_error: StromError | None = None
    for msg in messages:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF and first_error is None:
                first_error = translate(
                    err, "poll", topic=msg.topic(), partition=msg.partition(), bootstrap=bootstrap
                )
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
    return out, first_error
