"""``sink``: hand records to a batching sink."""

from __future__ import annotations

from typing import Any

from strom.context import SLOT
from strom.errors import SinkBusyError
from strom.runtime.functions.base import Fn, step_failed
from strom.sinks.base import Sink


def compile_sink(step: str, sink: Sink) -> Fn:
    """A terminal step calling ``sink.add`` with the value, current key and record metadata.

    SinkBusyError passes through untouched: the runner turns it into back-pressure.
    """
    slot = SLOT
    add = sink.add

    def sink_(value: Any) -> None:
        record = slot.record
        key = slot.current_key()
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
            raise
        except Exception as exc:
            raise step_failed(step, exc) from exc

    return sink_
