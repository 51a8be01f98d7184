"""Building the operator graph: immutability, step names, validation errors."""

from __future__ import annotations

import pytest

import strom
from strom.dsl import graph as g
from strom.errors import ConfigError
from strom.sinks import BatchingSink, SinkRecord


class ListSink(BatchingSink):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[SinkRecord] = []

    def write(self, batch: list[SinkRecord]) -> None:
        self.written.extend(batch)


@pytest.fixture
def app() -> strom.App:
    return strom.App("unit-app", broker="local:///tmp/unused")


def test_every_method_returns_a_new_stream_and_leaves_the_old_one(app: strom.App) -> None:
    source = app.stream(app.topic("events"))
    filtered = source.filter(bool, name="keep")
    mapped = filtered.map(str, name="text")
    assert source.node is not filtered.node is not mapped.node
    assert isinstance(source.node, g.Source)
    assert isinstance(filtered.node, g.Filter) and filtered.node.parents == (source.node,)
    assert isinstance(mapped.node, g.Map) and mapped.node.parents == (filtered.node,)
    # The same stream feeds two pipelines.
    other = filtered.map(repr, name="repr")
    assert other.node.parents == (filtered.node,)


def test_nodes_are_immutable(app: strom.App) -> None:
    node = app.stream(app.topic("events")).map(str, name="m").node
    with pytest.raises(AttributeError):
        node.name = "other"  # type: ignore[misc]


def test_streams_of_one_topic_share_the_source(app: strom.App) -> None:
    events = app.topic("events")
    assert app.stream(events).node is app.stream(events).node


def test_generated_names_count_per_kind_in_declaration_order(app: strom.App) -> None:
    s = app.stream(app.topic("events"))
    names = [
        s.map(str).name,
        s.map(str).name,
        s.filter(bool).name,
        s.flat_map(list).name,
        s.peek(print).name,
        s.key_by(str).name,
        s.merge(s.map(str)).name,
    ]
    assert names == ["map-1", "map-2", "filter-1", "flat_map-1", "peek-1", "key_by-1", "merge-1"]


def test_generated_names_skip_names_taken_explicitly(app: strom.App) -> None:
    s = app.stream(app.topic("events"))
    s.map(str, name="map-1")
    assert s.map(str).name == "map-2"


def test_same_program_gives_same_names() -> None:
    def build() -> list[str]:
        app = strom.App("again", broker="local:///tmp/unused")
        s = app.stream(app.topic("t"))
        return [s.map(str).name, s.filter(bool).name, s.key_by(str).name]

    assert build() == build()


def test_duplicate_step_name_is_rejected(app: strom.App) -> None:
    s = app.stream(app.topic("events"))
    s.map(str, name="enrich")
    with pytest.raises(ConfigError, match="step name 'enrich' is used twice"):
        s.filter(bool, name="enrich")


@pytest.mark.parametrize("bad", ["", "has space", "slash/name", "ünïcode", "colon:name", ".", ".."])
def test_illegal_step_names_are_rejected(app: strom.App, bad: str) -> None:
    with pytest.raises(ConfigError, match="not valid"):
        app.stream(app.topic("events")).map(str, name=bad)


def test_step_name_too_long_for_its_repartition_topic_is_rejected(app: strom.App) -> None:
    with pytest.raises(ConfigError, match="at most"):
        app.stream(app.topic("events")).key_by(str, name="k" * 240)


@pytest.mark.parametrize("bad", ["", "a b", "x" * 250, "a/b"])
def test_illegal_app_names_are_rejected(bad: str) -> None:
    with pytest.raises(ConfigError, match="application name"):
        strom.App(bad, broker="local:///tmp/unused")


def test_an_unknown_guarantee_names_the_three() -> None:
    with pytest.raises(ConfigError, match="'at-least-once', 'at-most-once' or 'exactly-once'"):
        strom.App("eos", broker="local:///tmp/unused", guarantee="exactly_once")
    assert strom.App("eos", guarantee="exactly-once").guarantee == "exactly-once"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"guarantee": "maybe"}, "guarantee"),
        ({"commit_interval": 0}, "commit_interval"),
        ({"shutdown_timeout": "soon"}, "shutdown_timeout"),
        ({"batch_size": 0}, "batch_size"),
        ({"auto_offset_reset": "middle"}, "auto_offset_reset"),
        ({"broker": "kafak://x:1"}, "unknown scheme"),
    ],
)
def test_bad_app_settings_are_rejected(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        strom.App("bad", **kwargs)  # type: ignore[arg-type]


def test_topic_declared_twice_differently_is_rejected(app: strom.App) -> None:
    first = app.topic("events")
    assert app.topic("events") is first
    with pytest.raises(ConfigError, match="declared twice"):
        app.topic("events", partitions=3)


def test_topic_of_another_app_is_rejected(app: strom.App) -> None:
    other = strom.App("other", broker="local:///tmp/unused")
    foreign = other.topic("events")
    with pytest.raises(ConfigError, match="not declared in application 'unit-app'"):
        app.stream(foreign)
    with pytest.raises(ConfigError, match="expected a Topic"):
        app.stream(app.topic("events")).to("out")


def test_topic_validation(app: strom.App) -> None:
    with pytest.raises(ConfigError, match="topic name"):
        app.topic("bad name")
    with pytest.raises(ConfigError, match="partitions"):
        app.topic("t", partitions=0)
    with pytest.raises(ConfigError, match="not a Serde"):
        app.topic("t", value=object())  # type: ignore[arg-type]


def test_functions_must_be_callable(app: strom.App) -> None:
    s = app.stream(app.topic("events"))
    for method in (s.map, s.map_values, s.filter, s.flat_map, s.peek, s.for_each, s.key_by):
        with pytest.raises(ConfigError, match="needs a function"):
            method(42)  # type: ignore[operator, arg-type]


def test_branch_names_each_branch_and_the_default(app: strom.App) -> None:
    s = app.stream(app.topic("events"))
    parts = s.branch({"small": lambda n: n < 10, "big": lambda n: n > 100}, name="size")
    assert list(parts) == ["small", "big", "default"]
    assert [p.name for p in parts.values()] == ["size-small", "size-big", "size-default"]
    split = parts["small"].node.parents[0]
    assert isinstance(split, g.Split) and split.labels == ("small", "big")
    no_default = s.branch({"a": bool}, default=None, name="only-a")
    assert list(no_default) == ["a"]


def test_branch_errors(app: strom.App) -> None:
    s = app.stream(app.topic("events"))
    with pytest.raises(ConfigError, match="non-empty mapping"):
        s.branch({})
    with pytest.raises(ConfigError, match="also a predicate label"):
        s.branch({"default": bool})
    with pytest.raises(ConfigError, match="not valid"):
        s.branch({"bad label": bool}, name="split")


def test_merge_errors(app: strom.App) -> None:
    s = app.stream(app.topic("events"))
    a = s.map(str, name="a")
    with pytest.raises(ConfigError, match="at least one"):
        a.merge()
    with pytest.raises(ConfigError, match="given twice"):
        a.merge(a)
    other = strom.App("other", broker="local:///tmp/unused")
    with pytest.raises(ConfigError, match="another application"):
        a.merge(other.stream(other.topic("t")))
    merged = a.merge(s.map(repr, name="b"), name="both")
    assert [p.name for p in merged.node.parents] == ["a", "b"]


def test_terminals_are_registered(app: strom.App) -> None:
    events, out = app.topic("events"), app.topic("out")
    s = app.stream(events)
    s.to(out, name="write")
    s.for_each(print, name="print")
    s.sink(ListSink(), name="store")
    assert [n.name for n in app.graph.terminals] == ["write", "print", "store"]
    with pytest.raises(ConfigError, match="not a Sink"):
        s.sink(object())  # type: ignore[arg-type]


def test_key_by_defaults_and_validation(app: strom.App) -> None:
    s = app.stream(app.topic("events"))
    node = s.key_by(lambda e: e["user"], name="by-user").node
    assert isinstance(node, g.KeyBy)
    assert node.key.name == "json" and node.value.name == "json" and node.partitions is None
    with pytest.raises(ConfigError, match="positive int"):
        s.key_by(str, partitions=0)
    with pytest.raises(ConfigError, match="must be a Serde"):
        s.key_by(str, key="string")  # type: ignore[arg-type]
    assert isinstance(s.select_key(str, name="sel").node, g.KeyBy)
