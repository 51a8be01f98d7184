"""``to``: write records to a topic through the application's producer."""

from __future__ import annotations

from typing import Any

from strom.context import SLOT, UNSET, Slot
from strom.errors import SerializationError
from strom.log.protocols import Producer
from strom.runtime.functions.base import Fn, StepCounter, timed
from strom.serde.base import Serde


def serialize_failed(
    step: str, topic: str, field: str, serde: Serde[Any], exc: Exception
) -> SerializationError:
    """The error for a step that cannot serialize a record's ``field`` for ``topic``.

    It names ``step``, so the step's error policy decides what happens (the runner adds the
    input record's position).

    Example:
        >>> from strom.serde import json
        >>> error = serialize_failed("out", "orders", "value", json(), TypeError("set"))
        >>> error.step, str(error)
        ('out', "step 'out' cannot serialize the value for topic 'orders' with the 'json' serde: TypeError: set")
    """  # noqa: E501
    cause = str(exc) if isinstance(exc, SerializationError) else f"{type(exc).__name__}: {exc}"
    name = getattr(serde, "name", type(serde).__name__)
    return SerializationError(
        f"step {step!r} cannot serialize the {field} for topic {topic!r} with the {name!r} "
        f"serde: {cause}",
        step=step,
    )


def compile_to(
    step: str,
    producer: Producer,
    topic: str,
    key_serde: Serde[Any],
    value_serde: Serde[Any],
    *,
    key_bytes_reusable: bool,
    value_bytes_reusable: bool,
    counter: StepCounter | None = None,
    slot_: Slot | None = None,
) -> Fn:
    """A terminal step producing each value, with the current key, to ``topic``.

    The input record's timestamp and headers are kept. Bytes are reused instead of encoding
    again when the plan proves them unchanged: ``key_bytes_reusable`` when the source topic has
    the same key serde (and no step replaced the key), ``value_bytes_reusable`` when only
    filters and branches stand between source and here and the value serdes match.

    A value or key that cannot be serialized raises a SerializationError naming the step, so
    that the step's error policy applies. ``counter`` counts records written as out.
    """
    slot = slot_ or SLOT
    send = producer.send
    serialize_key = key_serde.serialize
    serialize_value = value_serde.serialize
    c = counter if counter is not None else StepCounter(step)

    def to_(value: Any) -> None:
        c.records_in += 1
        record = slot.record
        if value_bytes_reusable:
            value_bytes = record.value
        else:
            try:
                value_bytes = serialize_value(value)
            except Exception as exc:
                c.dropped += 1
                raise serialize_failed(step, topic, "value", value_serde, exc) from exc
        try:
            if key_bytes_reusable and slot.key is UNSET:
                key_bytes = record.key
            else:
                key = slot.current_key()
                try:
                    key_bytes = serialize_key(key)
                except Exception as exc:
                    raise serialize_failed(step, topic, "key", key_serde, exc) from exc
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

    return timed(to_, c) if c.timing else to_
