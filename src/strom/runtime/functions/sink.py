"""``sink``: hand records to a batching sink."""

from __future__ import annotations

from typing import Any

from strom.context import SLOT, Slot
from strom.errors import SinkBusyError
from strom.runtime.functions.base import Fn, StepCounter, step_failed, timed
from strom.sinks.base import Sink


def compile_sink(
    step: str, sink: Sink, counter: StepCounter | None = None, slot_: Slot | None = None
) -> Fn:
    """A terminal step calling ``sink.add`` with the value, current key and record metadata.

    SinkBusyError passes through untouched: the runner turns it into back-pressure.
    ``counter`` counts the records the sink accepted as out.
    """
    slot = slot_ or SLOT
    add = sink.add
    c = counter if counter is not None else StepCounter(step)

    def sink_(value: Any) -> None:
        c.records_in += 1
        record = slot.record
        try:
            key = slot.current_key()
        except BaseException:
            c.dropped += 1  # the key's SerializationError: the runner locates it
            raise
        try:
            add(
                value,
                key,
                record.timestamp,
                record.headers,
                record.topic,
                record.partition,
                record.offset,
            )
        except SinkBusyError:
            c.dropped += 1
            raise
        except Exception as exc:
            c.dropped += 1
            raise step_failed(step, exc) from exc

    return timed(sink_, c) if c.timing else sink_
