"""Event types, schema versions and upcaster chains (applied on read, stored bytes untouched)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

import strom.es as es
from strom.errors import ConfigError, SerializationError
from strom.es.registry import SKIPPED


def stored(type_: str, version: int, data: bytes) -> es.RecordedEvent:
    return es.RecordedEvent(9, "user-1", 4, uuid.uuid4(), type_, version, 0, data, b"{}")


@dataclass
class NameSet:
    first: str
    last: str
    title: str = ""


class Tagged(msgspec.Struct):
    tags: list[str]


def chain_registry(**options: Any) -> es.EventRegistry:
    registry = es.EventRegistry(**options).register(NameSet, version=3).register(Tagged)

    @registry.upcaster("NameSet", from_version=1)
    def split(old: dict[str, Any]) -> dict[str, Any]:
        first, _, last = old["name"].partition(" ")
        return {"first": first, "last": last}

    @registry.upcaster("NameSet", from_version=2)
    def add_title(old: dict[str, Any]) -> dict[str, Any]:
        return {**old, "title": "Dr" if old["first"] == "Ada" else ""}

    return registry


def test_current_version_round_trip_for_dataclasses_and_structs() -> None:
    registry = chain_registry()
    new = registry.encode(NameSet("Ada", "Lovelace", "Dr"), metadata={"actor": "a"})
    assert (new.type, new.type_version, new.metadata) == ("NameSet", 3, {"actor": "a"})
    assert registry.decode(stored(new.type, 3, new.data)) == NameSet("Ada", "Lovelace", "Dr")
    tagged = registry.encode(Tagged(["x"]))
    assert registry.decode(stored("Tagged", 1, tagged.data)) == Tagged(["x"])


def test_upcasting_chain_v1_to_v3_and_v2_to_v3() -> None:
    registry = chain_registry()
    v1 = stored("NameSet", 1, b'{"name": "Ada Lovelace"}')
    assert registry.decode(v1) == NameSet("Ada", "Lovelace", "Dr")
    assert v1.data == b'{"name": "Ada Lovelace"}'  # the stored event is untouched
    v2 = stored("NameSet", 2, b'{"first": "Alan", "last": "Turing"}')
    assert registry.decode(v2) == NameSet("Alan", "Turing", "")


def test_upcasting_on_read_through_a_repository() -> None:
    registry = chain_registry()

    class Person(es.Aggregate[NameSet]):
        name: str

        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.name = ""

        def apply(self, event: NameSet) -> None:
            self.name = f"{event.title} {event.first} {event.last}".strip()

    store = es.connect("sqlite://:memory:")
    store.append("Person-1", [es.NewEvent("NameSet", b'{"name": "Ada Lovelace"}', type_version=1)])
    assert es.Repository(store, Person, registry).load("1").name == "Dr Ada Lovelace"
    assert store.read("Person-1")[0].type_version == 1


def test_unknown_type_newer_version_or_missing_step_is_a_clear_error() -> None:
    registry = chain_registry()
    with pytest.raises(es.UnknownEventError, match="'Gone' is not registered") as caught:
        registry.decode(stored("Gone", 1, b"{}"))
    err = caught.value
    assert (err.event_type, err.stream_id, err.version, err.position) == ("Gone", "user-1", 4, 9)
    assert "stream 'user-1' version 4 (position 9)" in str(err)
    with pytest.raises(es.UnknownEventError, match="v4 is newer than the registered v3"):
        registry.decode(stored("NameSet", 4, b"{}"))
    gap = es.EventRegistry().register(NameSet, version=3)
    gap.add_upcaster("NameSet", 2, lambda d: d)
    with pytest.raises(es.UnknownEventError, match="no upcaster from v1 to v2"):
        gap.decode(stored("NameSet", 1, b"{}"))


def test_configured_skip_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    registry = chain_registry(on_unknown="skip")
    assert registry.decode(stored("Gone", 2, b"{}")) is SKIPPED
    assert registry.decode(stored("Gone", 2, b"{}")) is SKIPPED
    assert registry.skipped == {("Gone", 2): 2}
    assert "skipping events of Gone v2" in caplog.text


def test_skipped_events_still_advance_the_aggregate_version() -> None:
    registry = es.EventRegistry(on_unknown="skip").register(Tagged)

    class Bag(es.Aggregate[Tagged]):
        tags: list[str]

        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.tags = []

        def apply(self, event: Tagged) -> None:
            self.tags += event.tags

    store = es.connect("sqlite://:memory:")
    store.append("Bag-1", [es.NewEvent("Old", b"{}"), es.NewEvent("Tagged", b'{"tags":["a"]}')])
    bag = es.Repository(store, Bag, registry).load("1")
    assert (bag.version, bag.tags) == (2, ["a"])


def test_bad_data_and_failing_upcasters_name_the_event() -> None:
    registry = chain_registry()
    with pytest.raises(SerializationError, match="stream 'user-1' version 4"):
        registry.decode(stored("NameSet", 3, b'{"first": 1}'))
    with pytest.raises(SerializationError, match="upcaster v1 -> v2 failed"):
        registry.decode(stored("NameSet", 1, b'{"nom": "x"}'))
    with pytest.raises(SerializationError, match="does not match NameSet"):
        registry.decode(stored("NameSet", 2, b'{"first": "a"}'))


def test_registration_errors() -> None:
    registry = es.EventRegistry().register(NameSet)
    with pytest.raises(ConfigError, match="already registered"):
        registry.register(NameSet, name="Other")
    with pytest.raises(ConfigError, match="already registered"):
        registry.register(Tagged, name="NameSet")
    with pytest.raises(ConfigError, match=r"dataclass or a msgspec\.Struct"):
        registry.register(dict)
    with pytest.raises(ConfigError, match="version must be an int >= 1"):
        registry.register(Tagged, version=0)
    with pytest.raises(ConfigError, match="not a registered event type"):
        registry.encode(Tagged(["x"]))
    with pytest.raises(ConfigError, match="already registered"):
        registry.add_upcaster("NameSet", 1, lambda d: d)
        registry.add_upcaster("NameSet", 1, lambda d: d)
    with pytest.raises(ConfigError, match="on_unknown"):
        es.EventRegistry(on_unknown="drop")  # type: ignore[arg-type]
