"""The engine's delivery rules, with a scripted source on the embedded log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import strom.log
from strom.cdc.connect import primitive
from strom.cdc.engine import CdcEngine, EngineSettings
from strom.cdc.errors import SourceUnavailableError
from strom.cdc.model import Change, Checkpoint, Item, Table, TableColumn
from strom.errors import RecordTooLargeError
from strom.log import TopicPartition

TABLE = Table(
    "db", "public", "t", (TableColumn("id", primitive("int32", optional=False)),
                          TableColumn("v", primitive("string"))), key=("id",),
)  # fmt: skip


def insert(i: int, v: str = "x") -> Change:
    return Change(TABLE, "c", None, {"id": i, "v": v}, {"schema": "public", "table": "t"}, i)


class Scripted:
    """A source replaying a script of polls; records what the engine told it."""

    connector, database, source_fields = "postgresql", "db", []
    source_schema_name = "io.debezium.connector.postgresql.Source"

    def __init__(self, polls: list[list[Item] | Exception], on_ack: Any = None) -> None:
        self.polls = polls
        self.on_ack = on_ack
        self.starts: list[Any] = []
        self.acked: list[dict[str, Any]] = []
        self.closed = 0

    def start(self, stored: Any) -> None:
        self.starts.append(stored)

    def poll(self, max_items: int, timeout: float) -> list[Item]:
        if not self.polls:
            return []
        step = self.polls.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def acknowledge(self, position: dict[str, Any]) -> None:
        if self.on_ack is not None:
            self.on_ack(position)
        self.acked.append(position)

    def close(self) -> None:
        self.closed += 1


def topic_values(url: str) -> list[Any]:
    log = strom.log.connect(url)
    try:
        consumer = log.consumer()
        tp = TopicPartition("app.public.t", 0)
        _, high = consumer.watermarks(tp)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        out: list[Any] = []
        while len(out) < high:
            out += [orjson.loads(r.value)["after"]["id"] for r in consumer.poll(100, timeout=1)]
        consumer.close()
        return out
    finally:
        log.close()


def test_a_position_is_acknowledged_only_once_the_log_holds_it(tmp_path: Path) -> None:
    url, store = f"local://{tmp_path / 'log'}", tmp_path / "position.json"
    seen: list[tuple[Any, list[Any], Any]] = []

    def on_ack(position: dict[str, Any]) -> None:
        # At acknowledgement time: every change before the checkpoint is readable from the
        # log, and the position is already stored.
        seen.append((position, topic_values(url), orjson.loads(store.read_bytes())))

    source = Scripted(
        [[insert(1), insert(2), Checkpoint({"n": 2}), insert(3)], [Checkpoint({"n": 3})], []],
        on_ack,
    )
    settings = EngineSettings("app", schemas=False, offsets=str(store), checkpoint_interval=1e-6)
    CdcEngine(source, url, settings).run(max_polls=3)
    assert seen == [({"n": 2}, [1, 2, 3], {"n": 2}), ({"n": 3}, [1, 2, 3], {"n": 3})]
    assert source.closed == 1


def test_stop_takes_a_final_checkpoint_and_restart_resumes_there(tmp_path: Path) -> None:
    url = f"local://{tmp_path / 'log'}"
    first = Scripted([[insert(1), Checkpoint({"n": 1})]])
    CdcEngine(first, url, EngineSettings("app", checkpoint_interval=3600)).run(max_polls=2)
    assert first.starts == [None] and first.acked == [{"n": 1}]
    second = Scripted([])
    CdcEngine(second, url, EngineSettings("app")).run(max_polls=1)
    assert second.starts == [{"n": 1}]  # the position stored in the log's offsets topic


def test_a_failed_write_acknowledges_nothing(tmp_path: Path) -> None:
    url, store = f"local://{tmp_path / 'log'}", tmp_path / "position.json"
    source = Scripted([[insert(1), Checkpoint({"n": 1}), insert(2, "x" * 3_000_000),
                        Checkpoint({"n": 2})]])  # fmt: skip
    settings = EngineSettings("app", schemas=False, offsets=str(store))
    with pytest.raises(RecordTooLargeError):
        CdcEngine(source, url, settings).run(max_polls=2)
    assert source.acked == [] and not store.exists() and source.closed == 1


def test_a_lost_database_connection_resumes_from_the_stored_position(tmp_path: Path) -> None:
    url = f"local://{tmp_path / 'log'}"
    source = Scripted(
        [
            [insert(1), Checkpoint({"n": 1}), insert(2)],
            SourceUnavailableError("connection reset"),
            [insert(2), Checkpoint({"n": 2})],
        ]
    )
    CdcEngine(source, url, EngineSettings("app", schemas=False)).run(max_polls=4)
    # What was complete was kept; the rest is read again (at-least-once) after reconnecting.
    assert source.starts == [None, {"n": 1}]
    assert source.acked == [{"n": 1}, {"n": 2}]
    assert topic_values(url) == [1, 2, 2]
