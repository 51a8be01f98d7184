"""``key_by``: give records a new key, in place or through a repartition topic."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from strom.context import SLOT, Slot
from strom.log.protocols import Producer
from strom.runtime.functions.base import SAMPLE_EVERY, Fn, StepCounter, step_failed, timed
from strom.runtime.functions.produce import serialize_failed
from strom.serde.base import Serde


def compile_key_by(
    step: str,
    fn: Callable[[Any], Any],
    downstream: Fn,
    counter: StepCounter | None = None,
    slot_: Slot | None = None,
) -> Fn:
    """A step setting the current key to ``fn(value)`` for the steps downstream.

    Used when no stateful step downstream needs records partitioned by the new key (``to``
    writes with the new key, and the topic's partitioner places it).
    """
    slot = slot_ or SLOT
    c = counter if counter is not None else StepCounter(step)
    timing = c.timing
    clock = time.perf_counter_ns

    def key_by_(value: Any) -> None:
        c.records_in += 1
        try:
            if timing and not c.records_in % SAMPLE_EVERY:
                start = clock()
                key = fn(value)
                c.ns += (clock() - start) * SAMPLE_EVERY
            else:
                key = fn(value)
        except Exception as exc:
            c.dropped += 1
            raise step_failed(step, exc) from exc
        previous = slot.key
        slot.key = key
        downstream(value)
        # Steps fanned out beside this one must see the record's own key.
        slot.key = previous

    return key_by_


def compile_repartition(
    step: str,
    fn: Callable[[Any], Any],
    producer: Producer,
    topic: str,
    key_serde: Serde[Any],
    value_serde: Serde[Any],
    counter: StepCounter | None = None,
    slot_: Slot | None = None,
) -> Fn:
    """A step writing ``value`` under the key ``fn(value)`` to the repartition ``topic``.

    The producer partitions by the new key, so every record with one key is read back by
    the same task; the steps after ``key_by`` run there. Timestamp and headers are kept.
    A key or value that cannot be serialized raises a SerializationError naming the step.
    """
    slot = slot_ or SLOT
    send = producer.send
    serialize_key = key_serde.serialize
    serialize_value = value_serde.serialize
    c = counter if counter is not None else StepCounter(step)

    def repartition_(value: Any) -> None:
        c.records_in += 1
        try:
            try:
                key = fn(value)
            except Exception as exc:
                raise step_failed(step, exc) from exc
            try:
                key_bytes = serialize_key(key)
            except Exception as exc:
                raise serialize_failed(step, topic, "key", key_serde, exc) from exc
            try:
                value_bytes = serialize_value(value)
            except Exception as exc:
                raise serialize_failed(step, topic, "value", value_serde, exc) from exc
            record = slot.record
            send(
                topic,
                value_bytes,
                key_bytes,
                timestamp=record.timestamp,
                headers=record.headers or None,
            )
        except BaseException:
            c.dropped += 1
            raise

    return timed(repartition_, c) if c.timing else repartition_
