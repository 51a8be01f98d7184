"""Tables on small hand-made cases: restore from a topic, timestamps of joined rows."""

from __future__ import annotations

from typing import Any

from strom.joins import (
    GlobalTableJoin,
    Output,
    Stamped,
    TableChange,
    TableCore,
    TableTableJoin,
    open_table_store,
    table_changelog_record,
)
from strom.serde import json, string


def table(name: str) -> TableCore[str, Any]:
    return TableCore(open_table_store(name, 0, string(), json()))


def test_a_global_table_restores_from_its_topic_records() -> None:
    countries = table("countries")
    topic: list[tuple[bytes, bytes | None, int]] = [
        (b"de", b'"Germany"', 5),
        (b"fr", b'"France"', 6),
        (b"de", b'"Deutschland"', 7),
        (b"fr", None, 8),  # a tombstone
    ]
    countries.store.restore(table_changelog_record(k, v, ts) for k, v, ts in topic)
    assert countries.get_stamped("de") == Stamped("Deutschland", 7)
    assert countries.get("fr") is None
    join = GlobalTableJoin(
        countries, lambda o, c: (o["id"], c), how="left", lookup_key=lambda o: o["country"]
    )
    assert join.process("o1", {"id": 1, "country": "de"}, 99) == Output(
        "o1", (1, "Deutschland"), 99
    )
    assert join.process("o2", {"id": 2, "country": "fr"}, 100) == Output("o2", (2, None), 100)


def test_a_joined_row_takes_the_later_timestamp_of_its_sides() -> None:
    join = TableTableJoin(table("l"), table("r"), lambda a, b: (a, b), how="outer")
    assert join.upsert_right("k", "r1", 50) == TableChange("k", None, (None, "r1"), 50)
    assert join.upsert_left("k", "l1", 20) == TableChange("k", (None, "r1"), ("l1", "r1"), 50)
    assert join.upsert_left("k", "l2", 70) == TableChange("k", ("l1", "r1"), ("l2", "r1"), 70)
    assert join.upsert_right("k", None, 60) == TableChange("k", ("l2", "r1"), ("l2", None), 70)
    assert join.upsert_left("k", None, 80) == TableChange("k", ("l2", None), None, 80)
    assert join.upsert_left("k", None, 90) is None


def test_an_inner_table_join_emits_only_rows_with_both_sides() -> None:
    join = TableTableJoin(table("l"), table("r"), lambda a, b: a + b, how="inner")
    assert join.upsert_left("k", "a", 1) is None
    assert join.upsert_right("k", "b", 2) == TableChange("k", None, "ab", 2)
    assert join.upsert_right("k", "c", 3) == TableChange("k", "ab", "ac", 3)
    assert join.upsert_left("k", None, 4) == TableChange("k", "ac", None, 4)
    assert join.upsert_right("k", "d", 5) is None
