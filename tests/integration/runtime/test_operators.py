"""Each operator's semantics, end to end through app.run(), on both logs."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

import strom
import strom.log
from strom.context import current
from strom.errors import SinkBusyError
from strom.log.partitioner import partition_for_key
from strom.sinks import BatchingSink, SinkRecord
from tests.conftest import unique
from tests.integration.runtime.support import create, produce, read, run_until_caught_up

TS = 1_700_000_000_000


def make_app(broker: str, **kwargs: Any) -> strom.App:
    return strom.App(unique("app"), broker=broker, commit_interval=0.2, **kwargs)


def test_map_changes_values_and_keeps_key_timestamp_headers(
    broker: str, log: strom.log.Log
) -> None:
    app = make_app(broker)
    events = app.topic(unique("events"), partitions=2)
    out = app.topic(unique("out"), partitions=2)
    app.stream(events).map(lambda e: {"double": e["n"] * 2}, name="double").to(out)
    create(log, events.name, 2)
    produce(
        log,
        events,
        [(f"k{n}", {"n": n}) for n in range(20)],
        timestamp=TS,
        headers=[("trace", b"t1")],
    )
    run_until_caught_up(app, log)
    got = read(log, out.name)
    assert sorted(o.value["double"] for o in got) == [n * 2 for n in range(20)]
    assert {o.key for o in got} == {f"k{n}" for n in range(20)}
    assert all(o.timestamp == TS and o.headers == (("trace", b"t1"),) for o in got)
    # Unchanged keys keep their partition.
    by_key = {o.key: o.partition for o in got}
    assert by_key == {o.key: o.partition for o in read(log, events.name)}


def test_map_values_is_map(broker: str, log: strom.log.Log) -> None:
    app = make_app(broker)
    events, out = app.topic(unique("events"), partitions=1), app.topic(unique("out"), partitions=1)
    app.stream(events).map_values(lambda e: e["n"] + 1, name="inc").to(out)
    create(log, events.name)
    produce(log, events, [("k", {"n": n}) for n in range(5)])
    run_until_caught_up(app, log)
    assert [o.value for o in read(log, out.name)] == [1, 2, 3, 4, 5]


def test_filter_keeps_matching_records_in_order_with_their_original_bytes(
    broker: str, log: strom.log.Log
) -> None:
    app = make_app(broker)
    events, out = app.topic(unique("events")), app.topic(unique("out"), partitions=1)
    app.stream(events).filter(lambda e: e["action"] == "login", name="logins").to(out)
    create(log, events.name)
    # Hand-written JSON with spaces: a filter-only pipeline writes the bytes it read.
    producer = log.producer()
    for n in range(30):
        action = "login" if n % 3 == 0 else "view"
        producer.send(events.name, f'{{"n": {n}, "action": "{action}"}}'.encode(), b"u")
    producer.flush()
    producer.close()
    run_until_caught_up(app, log)
    got = read(log, out.name, value=strom.serde.bytes_())
    assert [o.value for o in got] == [
        f'{{"n": {n}, "action": "login"}}'.encode() for n in range(0, 30, 3)
    ]


def test_flat_map_emits_each_result_with_the_input_key(broker: str, log: strom.log.Log) -> None:
    app = make_app(broker)
    events, out = app.topic(unique("lines")), app.topic(unique("words"), partitions=1)
    app.stream(events).flat_map(lambda line: line.split(), name="words").to(out)
    create(log, events.name)
    produce(log, events, [("a", "to be or"), ("b", ""), ("c", "not")])
    run_until_caught_up(app, log)
    assert [(o.key, o.value) for o in read(log, out.name)] == [
        ("a", "to"),
        ("a", "be"),
        ("a", "or"),
        ("c", "not"),
    ]


def test_peek_and_for_each_see_every_record(broker: str, log: strom.log.Log) -> None:
    app = make_app(broker)
    events, out = app.topic(unique("events")), app.topic(unique("out"), partitions=1)
    peeked: list[int] = []
    each: list[int] = []
    s = app.stream(events).peek(lambda v: peeked.append(v), name="peek")
    s.to(out)
    s.for_each(lambda v: each.append(v * 10), name="each")
    create(log, events.name)
    produce(log, events, [("k", n) for n in range(10)])
    run_until_caught_up(app, log)
    assert peeked == list(range(10))
    assert each == [n * 10 for n in range(10)]
    assert [o.value for o in read(log, out.name)] == list(range(10))


def test_context_gives_the_record_metadata(broker: str, log: strom.log.Log) -> None:
    app = make_app(broker)
    events, out = app.topic(unique("events")), app.topic(unique("out"), partitions=1)

    def describe(value: Any) -> dict[str, Any]:
        ctx = current()
        return {
            "value": value,
            "key": ctx.key,
            "timestamp": ctx.timestamp,
            "headers": [[k, v.decode()] for k, v in ctx.headers],
            "topic": ctx.topic,
            "partition": ctx.partition,
            "offset": ctx.offset,
        }

    app.stream(events).map(describe, name="describe").to(out)
    create(log, events.name)
    produce(log, events, [("user-1", "a"), ("user-2", "b")], timestamp=TS, headers={"h": "x"})
    run_until_caught_up(app, log)
    assert [o.value for o in read(log, out.name)] == [
        {
            "value": "a",
            "key": "user-1",
            "timestamp": TS,
            "headers": [["h", "x"]],
            "topic": events.name,
            "partition": 0,
            "offset": 0,
        },
        {
            "value": "b",
            "key": "user-2",
            "timestamp": TS,
            "headers": [["h", "x"]],
            "topic": events.name,
            "partition": 0,
            "offset": 1,
        },
    ]


def test_key_by_then_to_writes_each_new_key_to_one_partition(
    broker: str, log: strom.log.Log
) -> None:
    app = make_app(broker)
    events = app.topic(unique("events"), partitions=3)
    out = app.topic(unique("by-country"), partitions=4)
    countries = ["de", "fr", "us", "jp", "br", "in", "ng"]
    (
        app.stream(events)
        .key_by(lambda e: e["country"], name="by-country")
        .map(lambda e: {**e, "rekeyed": True}, name="mark")
        .to(out)
    )
    create(log, events.name, 3)
    inputs = [(f"user-{n}", {"n": n, "country": countries[n % 7]}) for n in range(300)]
    produce(log, events, inputs)
    run_until_caught_up(app, log)
    got = read(log, out.name)
    assert len(got) == 300
    assert sorted(o.value["n"] for o in got) == list(range(300))
    partitions_of: dict[str, set[int]] = defaultdict(set)
    for o in got:
        assert o.key == o.value["country"] and o.value["rekeyed"]
        partitions_of[o.key].add(o.partition)
    assert set(partitions_of) == set(countries)
    assert all(len(p) == 1 for p in partitions_of.values()), partitions_of
    # No stateful step follows: no repartition topic, the records went straight to ``out``.
    admin = log.admin()
    try:
        assert f"{app.name}-by-country-repartition" not in admin.list_topics()
    finally:
        admin.close()
    # Order holds per input partition: records of one input partition with one new key come
    # out in their input order.
    per_origin: dict[tuple[str, int], list[int]] = defaultdict(list)
    for o in got:
        origin = partition_for_key(f"user-{o.value['n']}".encode(), 3)
        per_origin[o.key, origin].append(o.value["n"])
    assert all(ns == sorted(ns) for ns in per_origin.values())


def test_branch_routes_each_record_to_the_first_matching_branch(
    broker: str, log: strom.log.Log
) -> None:
    app = make_app(broker)
    events = app.topic(unique("events"))
    small, medium, rest = (app.topic(unique(n), partitions=1) for n in ("small", "medium", "rest"))
    parts = app.stream(events).branch(
        {"small": lambda n: n < 10, "medium": lambda n: n < 100}, default="rest", name="size"
    )
    parts["small"].to(small)
    parts["medium"].to(medium)
    parts["rest"].to(rest)
    create(log, events.name)
    produce(log, events, [("k", n) for n in (1, 50, 500, 5, 99, 100)])
    run_until_caught_up(app, log)
    assert [o.value for o in read(log, small.name)] == [1, 5]
    assert [o.value for o in read(log, medium.name)] == [50, 99]
    assert [o.value for o in read(log, rest.name)] == [500, 100]


def test_merge_combines_streams_keeping_each_ones_order(broker: str, log: strom.log.Log) -> None:
    app = make_app(broker)
    a, b = app.topic(unique("a")), app.topic(unique("b"))
    out = app.topic(unique("out"), partitions=1)
    left = app.stream(a).map(lambda n: {"from": "a", "n": n}, name="tag-a")
    right = app.stream(b).map(lambda n: {"from": "b", "n": n}, name="tag-b")
    evens = app.stream(a).filter(lambda n: n % 2 == 0, name="even-a")
    left.merge(
        right, evens.map(lambda n: {"from": "even", "n": n}, name="tag-even"), name="all"
    ).to(out)
    create(log, a.name)
    create(log, b.name)
    produce(log, a, [("k", n) for n in range(6)])
    produce(log, b, [("k", n) for n in range(4)])
    run_until_caught_up(app, log)
    got = [o.value for o in read(log, out.name)]
    assert Counter(v["from"] for v in got) == {"a": 6, "b": 4, "even": 3}
    for origin in ("a", "b", "even"):
        ns = [v["n"] for v in got if v["from"] == origin]
        assert ns == sorted(ns)


class Collecting(BatchingSink):
    """Keeps written records; refuses its first ``busy`` flushes with SinkBusyError."""

    def __init__(self, busy: int = 0) -> None:
        super().__init__()
        self.written: list[SinkRecord] = []
        self.busy = busy
        self.refused = 0

    def write(self, batch: list[SinkRecord]) -> None:
        if self.refused < self.busy:
            self.refused += 1
            raise SinkBusyError("try later", retry_after=0.1)
        self.written.extend(batch)


def test_sink_gets_every_record_with_metadata(broker: str, log: strom.log.Log) -> None:
    app = make_app(broker)
    events = app.topic(unique("events"))
    sink = Collecting()
    app.stream(events).key_by(lambda e: e["user"], name="user").sink(sink, name="store")
    create(log, events.name)
    produce(log, events, [("k", {"user": f"u{n}"}) for n in range(25)], timestamp=TS)
    run_until_caught_up(app, log)
    assert [(r.key, r.value["user"], r.offset) for r in sink.written] == [
        (f"u{n}", f"u{n}", n) for n in range(25)
    ]
    assert all(r.timestamp == TS and r.topic == events.name for r in sink.written)


def test_busy_sink_pauses_and_gets_the_records_again(broker: str, log: strom.log.Log) -> None:
    app = make_app(broker)
    events = app.topic(unique("events"), partitions=2)
    sink = Collecting(busy=2)
    app.stream(events).sink(sink, name="store")
    create(log, events.name, 2)
    produce(log, events, [(f"k{n}", n) for n in range(40)])
    run_until_caught_up(app, log)
    assert sink.refused == 2
    # Refused batches were dropped and re-delivered from the last checkpoint: nothing lost.
    assert sorted(r.value for r in sink.written) == list(range(40))


def test_missing_source_topic_without_partitions_is_a_clear_error(
    broker: str, log: strom.log.Log
) -> None:
    app = make_app(broker)
    missing = app.topic(unique("missing"))
    app.stream(missing).to(app.topic(unique("out"), partitions=1))
    with pytest.raises(strom.errors.TopicNotFoundError, match=r"source topic .* does not exist"):
        app.run()


def test_topics_declared_with_partitions_are_created(broker: str, log: strom.log.Log) -> None:
    app = make_app(broker)
    events = app.topic(unique("events"), partitions=3)
    out = app.topic(unique("out"), partitions=2)
    app.stream(events).to(out)
    run_until_caught_up(app, log)
    admin = log.admin()
    try:
        assert admin.describe_topic(events.name).partitions == 3
        assert admin.describe_topic(out.name).partitions == 2
    finally:
        admin.close()
