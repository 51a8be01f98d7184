"""Fixtures for the embedded log's unit tests: a log in a temp dir and a controllable clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from strom.log import Record, TopicPartition, TopicSpec
from strom.log.local import LocalLog
from strom.log.local.head import Head


class ManualClock:
    """A wall clock the test moves by hand (seconds, like time.time)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @property
    def ms(self) -> int:
        return int(self.now * 1000)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[Callable[..., LocalLog]]:
    """Open LocalLogs on ``tmp_path/log`` (fsync=none unless given); all closed after."""
    opened: list[LocalLog] = []

    def make(
        options: dict[str, str] | None = None, clock: Callable[[], float] | None = None
    ) -> LocalLog:
        opts = {"fsync": "none", **(options or {})}
        log = (
            LocalLog(tmp_path / "log", opts, clock=clock)
            if clock
            else LocalLog(tmp_path / "log", opts)
        )
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


def create(log: LocalLog, name: str, partitions: int = 1, **config: str) -> None:
    """Create a topic with configs given as keyword arguments (dots as underscores)."""
    spec = TopicSpec(name, partitions, {k.replace("_", "."): v for k, v in config.items()})
    log.admin().create_topics([spec])


def produce(
    log: LocalLog, topic: str, items: list[tuple[bytes | None, bytes | None]], **kw: int
) -> None:
    """Send (key, value) pairs and flush."""
    producer = log.producer()
    for key, value in items:
        producer.send(topic, value, key, **kw)  # type: ignore[arg-type]
    producer.flush(10)
    producer.close()


def read(
    log: LocalLog, topic: str, partition: int = 0, start: int = 0, limit: int = 100_000
) -> list[Record]:
    """Every record of one partition from ``start`` (bounded polling)."""
    consumer = log.consumer()
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek(tp, start)
    high = consumer.watermarks(tp)[1]
    out: list[Record] = []
    for _ in range(200):
        position = consumer.position(tp)
        if (position is not None and position >= high) or len(out) >= limit:
            break
        out.extend(consumer.poll(max_records=10_000, timeout=0.05))
    consumer.close()
    return out


def as_after_machine_crash(directory: Path) -> None:
    """Make a partition's head look written in another boot of the machine (its page cache
    died with it): the head is valid but must not be trusted, so the files are read back."""
    head = Head(directory / "head")
    try:
        state = head.read()
        if state is not None:
            import strom.log.local.head as head_module

            real = head_module.BOOT_ID
            head_module.BOOT_ID = bytes(16)  # the other boot
            try:
                head.write(state)
                head.write(state)  # both slots
            finally:
                head_module.BOOT_ID = real
    finally:
        head.close()
