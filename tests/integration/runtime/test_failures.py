"""A failing user function or an undecodable record stops app.run() at the right offset."""

from __future__ import annotations

import pytest

import strom
import strom.log
from strom.errors import ProcessingError, SerializationError
from strom.log import TopicPartition
from tests.conftest import unique
from tests.integration.runtime.support import create, produce, read


def test_raising_function_stops_run_with_step_topic_partition_offset(
    broker: str, log: strom.log.Log
) -> None:
    app = strom.App(unique("app"), broker=broker, commit_interval=3600)
    events, out = app.topic(unique("events")), app.topic(unique("out"), partitions=1)

    def price(order: dict[str, int]) -> dict[str, int]:
        return {"total": 100 // order["qty"]}

    app.stream(events).map(price, name="price").to(out)
    create(log, events.name)
    produce(log, events, [("k", {"qty": q}) for q in (1, 2, 4, 0, 5)])
    with pytest.raises(ProcessingError) as info:
        app.run()
    error = info.value
    assert (error.step, error.topic, error.partition, error.offset) == ("price", events.name, 0, 3)
    assert isinstance(error.__cause__, ZeroDivisionError)
    assert f"topic={events.name!r}, partition=0, offset=3" in str(error)
    admin = log.admin()
    try:
        assert admin.group_offsets(app.name) == {TopicPartition(events.name, 0): 3}
    finally:
        admin.close()
    # The outputs of the records before the failure were flushed before that commit.
    assert [o.value for o in read(log, out.name)] == [{"total": 100}, {"total": 50}, {"total": 25}]


def test_undecodable_record_stops_run_naming_it(broker: str, log: strom.log.Log) -> None:
    app = strom.App(unique("app"), broker=broker)
    events, out = app.topic(unique("events")), app.topic(unique("out"), partitions=1)
    app.stream(events).to(out)
    create(log, events.name)
    producer = log.producer()
    producer.send(events.name, b'{"ok": true}')
    producer.send(events.name, b"\xff not json")
    producer.close()
    with pytest.raises(SerializationError, match="cannot deserialize the value") as info:
        app.run()
    assert (info.value.topic, info.value.partition, info.value.offset) == (events.name, 0, 1)
