"""Reading an output topic back and checking it against the reference windows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from bench.stateful.data import Windows


def scan(
    bootstrap: str, topic: str, partitions: int, each: Callable[[Any], None], timeout: float = 120.0
) -> int:
    """Call ``each`` with every record of ``topic`` (confluent-kafka messages), from the
    beginning to the end offsets it had when called; returns how many."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-verify", "enable.auto.commit": False}
    )
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in range(partitions)
        }
        todo = {p: high for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in todo])
        n = 0
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 0.5):
                if msg.error() is not None:
                    continue
                each(msg)
                n += 1
                p = msg.partition()
                if p in todo and msg.offset() + 1 >= todo[p]:
                    del todo[p]
        if todo:
            raise RuntimeError(f"reading {topic} timed out with partitions {sorted(todo)} left")
        return n
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str, partitions: int) -> list[Any]:
    """Every record of ``topic`` (see :func:`scan`)."""
    out: list[Any] = []
    scan(bootstrap, topic, partitions, out.append)
    return out


def check_enriched(bootstrap: str, topic: str, partitions: int, tiers: dict[bytes, str]) -> Check:
    """Every output order carries its user's tier (None for an unknown user)."""
    check = Check()
    loads = orjson.loads

    def each(msg: Any) -> None:
        order = loads(msg.value())
        want = tiers.get(msg.key())
        if order.get("tier") != want:
            check.wrong += 1
            if len(check.examples) < 3:
                check.examples.append(f"{msg.key()!r}: tier {order.get('tier')!r}, want {want!r}")

    check.outputs = scan(bootstrap, topic, partitions, each)
    return check


def normalize(msg: Any) -> tuple[tuple[str, int, int], tuple[int, int]]:
    """((key, start, end), (count, sum)) of one window result, whichever implementation
    wrote it (strom and the loop: ``{"key", "start", "end", "value": {"count", "sum"}}``;
    Quix: ``{"start", "end", "count", "sum"}`` keyed by the user id)."""
    value = orjson.loads(msg.value())
    key = value.get("key")
    if key is None:
        key = msg.key().decode()
    agg = value.get("value", value)
    return (str(key), int(value["start"]), int(value["end"])), (
        int(agg["count"]),
        int(agg["sum"]),
    )


@dataclass
class Check:
    """How an output compares with the reference."""

    outputs: int = 0
    missing: int = 0
    wrong: int = 0
    extra: int = 0
    duplicates: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every reference window present once or more with the right values, nothing else."""
        return not (self.missing or self.wrong or self.extra)

    def describe(self) -> str:
        """One line for the report."""
        parts = [f"{self.outputs} results"]
        for what in ("missing", "wrong", "extra", "duplicates"):
            n = getattr(self, what)
            if n:
                parts.append(f"{n} {what}")
        example = f" (e.g. {'; '.join(self.examples[:3])})" if self.examples else ""
        return ", ".join(parts) + example


def check_windows(msgs: list[Any], reference: Windows) -> Check:
    """Compare window results with ``reference``."""
    check = Check(outputs=len(msgs))
    seen: dict[tuple[str, int, int], tuple[int, int]] = {}
    for msg in msgs:
        wkey, got = normalize(msg)
        if wkey in seen:
            check.duplicates += 1
            if seen[wkey] != got:
                check.wrong += 1
                check.examples.append(f"{wkey}: {seen[wkey]} then {got}")
            continue
        seen[wkey] = got
        want = reference.get(wkey)
        if want is None:
            check.extra += 1
            check.examples.append(f"{wkey} not in the reference")
        elif want != got:
            check.wrong += 1
            check.examples.append(f"{wkey}: {got}, expected {want}")
    missing = reference.keys() - seen.keys()
    check.missing = len(missing)
    check.examples += [f"{w} missing" for w in sorted(missing)[:3]]
    return check


def check_pairs(
    bootstrap: str, topic: str, partitions: int, reference: set[tuple[int, int]]
) -> Check:
    """Compare join outputs ``{"impression", "click"}`` with the reference pairs."""
    check = Check()
    seen: set[tuple[int, int]] = set()
    loads = orjson.loads

    def each(msg: Any) -> None:
        value = loads(msg.value())
        pair = (int(value["impression"]), int(value["click"]))
        if pair in seen:
            check.duplicates += 1
        elif pair not in reference:
            check.extra += 1
            if len(check.examples) < 3:
                check.examples.append(f"{pair} not in the reference")
        seen.add(pair)

    check.outputs = scan(bootstrap, topic, partitions, each)
    missing = reference - seen
    check.missing = len(missing)
    check.examples += [f"{p} missing" for p in sorted(missing)[:3]]
    return check
