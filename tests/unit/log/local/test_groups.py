"""Consumer groups: assignors, eager rebalances, session expiry, regex subscriptions."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from strom.errors import ConfigError, GroupFencedError
from strom.log import Consumer, Record, TopicPartition
from strom.log.local import LocalLog
from strom.log.local.assignors import range_assign, roundrobin_assign, strategy
from tests.unit.log.local.conftest import create, produce


def tps(topic: str, *numbers: int) -> list[TopicPartition]:
    return [TopicPartition(topic, n) for n in numbers]


def test_range_assignor_gives_contiguous_ranges_per_topic() -> None:
    members = {"b": ["x", "y"], "a": ["x"]}
    assert range_assign(members, {"x": 5, "y": 2}) == {
        "a": tps("x", 0, 1, 2),
        "b": tps("x", 3, 4) + tps("y", 0, 1),
    }


def test_roundrobin_deals_partitions_to_subscribers() -> None:
    members = {"a": ["x"], "b": ["x", "y"]}
    assert roundrobin_assign(members, {"x": 3, "y": 2}) == {
        "a": tps("x", 0, 2),
        "b": tps("x", 1) + tps("y", 0, 1),
    }
    with pytest.raises(ConfigError, match="sticky"):
        strategy("sticky")


def poll_until(
    consumers: list[Consumer], done: Callable[[], bool], seconds: float = 10
) -> list[Record]:
    out: list[Record] = []
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        for consumer in consumers:
            out.extend(consumer.poll(timeout=0.02))
    assert done(), "condition not reached in time"
    return out


def test_offsets_committed_in_on_revoke_are_where_the_next_owner_starts(
    open_log: Callable[..., LocalLog],
) -> None:
    log = open_log()
    create(log, "t", partitions=2)
    produce(log, "t", [(None, f"{i}".encode()) for i in range(20)])
    first = log.consumer("g")
    first.subscribe(["t"], on_revoke=lambda _: first.commit())
    seen = poll_until([first], lambda: len(first.assignment()) == 2)
    while len(seen) < 20:
        seen.extend(first.poll(timeout=0.05))

    second = log.consumer("g")
    second.subscribe(["t"])
    more = poll_until(
        [first, second], lambda: len(first.assignment()) == 1 == len(second.assignment())
    )
    assert more == []  # everything read before was committed in on_revoke: nothing again
    first.close()
    second.close()


def test_callbacks_follow_the_eager_protocol(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t", partitions=4)
    calls: list[tuple[str, str, list[int]]] = []

    def recorder(name: str, kind: str) -> Callable[[list[TopicPartition]], None]:
        return lambda parts: calls.append((name, kind, sorted(p.partition for p in parts)))

    a, b = log.consumer("g"), log.consumer("g")
    a.subscribe(["t"], on_assign=recorder("a", "assign"), on_revoke=recorder("a", "revoke"))
    poll_until([a], lambda: len(a.assignment()) == 4)
    b.subscribe(["t"], on_assign=recorder("b", "assign"), on_revoke=recorder("b", "revoke"))
    poll_until([a, b], lambda: len(a.assignment()) == 2 == len(b.assignment()))
    assert calls[:2] == [("a", "assign", [0, 1, 2, 3]), ("a", "revoke", [0, 1, 2, 3])]
    assigned = {name: parts for name, kind, parts in calls[2:] if kind == "assign"}
    assert len(calls) == 4 and sorted(assigned) == ["a", "b"]
    assert sorted(assigned["a"] + assigned["b"]) == [0, 1, 2, 3]
    assert assigned["a"] == sorted(p.partition for p in a.assignment())
    a.close()
    b.close()


def test_a_member_that_stops_polling_is_expired_and_told(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t", partitions=2)
    opts = {"session.timeout.ms": "1000", "max.poll.interval.ms": "200"}
    lost: list[list[TopicPartition]] = []
    sleepy = log.consumer("g", options=opts)
    sleepy.subscribe(["t"], on_lost=lost.append)
    poll_until([sleepy], lambda: len(sleepy.assignment()) == 2)
    awake = log.consumer("g", options=opts)
    awake.subscribe(["t"])
    poll_until([sleepy, awake], lambda: len(awake.assignment()) == 1 == len(sleepy.assignment()))

    # sleepy stops polling: its heartbeats stop after max.poll.interval, its session ends.
    poll_until([awake], lambda: len(awake.assignment()) == 2)
    with pytest.raises(GroupFencedError, match="no longer in group"):
        sleepy.commit({TopicPartition("t", 0): 1})
    sleepy.poll(timeout=0)  # learns it was removed, rejoins
    assert lost and len(lost[0]) == 1
    poll_until([sleepy, awake], lambda: len(awake.assignment()) == 1 == len(sleepy.assignment()))
    sleepy.close()
    awake.close()


def test_regex_subscription_picks_up_new_topics(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "ev-a")
    create(log, "other")
    consumer = log.consumer("g")
    consumer.subscribe(["^ev-.*"])
    poll_until([consumer], lambda: consumer.assignment() == tps("ev-a", 0))
    create(log, "ev-b", partitions=2)
    poll_until([consumer], lambda: len(consumer.assignment()) == 3)
    assert {tp.topic for tp in consumer.assignment()} == {"ev-a", "ev-b"}
    consumer.close()


def test_group_metadata_and_listing(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t")
    consumer = log.consumer("odd/name.with spaces")
    consumer.subscribe(["t"])
    poll_until([consumer], lambda: bool(consumer.assignment()))
    meta = consumer.group_metadata()
    assert meta.group_id == "odd/name.with spaces" and meta.member_id and meta.generation >= 1
    consumer.commit({TopicPartition("t", 0): 0})
    assert log.admin().list_groups() == ["odd/name.with spaces"]
    consumer.close()
