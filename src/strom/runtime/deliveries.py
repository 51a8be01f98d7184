"""Which input record an output that the log refused came from: the runner's careful mode.

On the hot path outputs are sent without a per-record callback, so a record the log refuses
(too large for the topic, rejected by the broker) surfaces at the next flush as a
:class:`~strom.errors.DeliveryError` that names no step and no input record. The runner then
re-reads everything since the last checkpoint in *careful mode*: the chains are compiled with
a :class:`TrackingProducer` per writing step, whose sends carry a delivery callback that
records the step and the input record of each refused output. Its failures then go through
the step's error policy like any other failure of that step (dead letter, skip, retry, fail).

Example:
    >>> import strom.log, tempfile
    >>> from strom.context import SLOT
    >>> log = strom.log.connect("local://" + tempfile.mkdtemp())
    >>> admin = log.admin()
    >>> admin.create_topics([strom.log.TopicSpec("out", 1)])
    >>> failures: list[DeliveryFailure] = []
    >>> producer = TrackingProducer(log.producer(), "to-out", SLOT, failures)
    >>> producer.send("out", b"v", b"k")
    >>> producer.flush()
    >>> failures
    []
"""

from __future__ import annotations

from typing import Any, NamedTuple

from strom.context import Slot
from strom.log.protocols import Producer
from strom.log.types import HeadersInput, Record, RecordMetadata


class DeliveryFailure(NamedTuple):
    """An output the log refused, with the step that wrote it and its input record."""

    step: str
    record: Record
    error: Exception


class TrackingProducer:
    """A producer for one step whose sends remember the input record (from ``slot``) and
    append a :class:`DeliveryFailure` to ``failures`` when the log refuses the output.

    Everything but :meth:`send` is the wrapped producer's.
    """

    def __init__(
        self, producer: Producer, step: str, slot: Slot, failures: list[DeliveryFailure]
    ) -> None:
        self._producer = producer
        self._step = step
        self._slot = slot
        self._failures = failures

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        timestamp: int | None = None,
        headers: HeadersInput = None,
        on_delivery: Any = None,
    ) -> None:
        """Send like the wrapped producer, tracking the outcome."""
        record = self._slot.record
        step = self._step
        failures = self._failures

        def delivered(metadata: RecordMetadata | None, error: Exception | None) -> None:
            if error is not None:
                failures.append(DeliveryFailure(step, record, error))
            if on_delivery is not None:
                on_delivery(metadata, error)

        self._producer.send(
            topic,
            value,
            key,
            partition=partition,
            timestamp=timestamp,
            headers=headers,
            on_delivery=delivered,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)
