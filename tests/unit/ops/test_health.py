"""Health: liveness and readiness through an application's life."""

from __future__ import annotations

from strom.log import TopicPartition
from strom.ops.health import Health, State

T0, T1 = TopicPartition("orders", 0), TopicPartition("orders", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def test_not_ready_until_running_and_restored() -> None:
    h = Health(clock=Clock())
    assert h.liveness().ready
    assert not h.readiness().ready
    assert h.readiness().reason["reason"] == "the application is starting"
    h.running()
    assert h.readiness().ready  # no partitions (yet): an idle member is ready
    h.assigned([T0, T1])
    status = h.readiness()
    assert not status.ready
    assert status.reason["restoring"] == ["orders-0", "orders-1"]
    assert status.reason["reason"] == "2 of 2 partitions are restoring"
    h.restored([T0])
    assert not h.readiness().ready
    h.restored([T1])
    assert h.readiness().ready
    assert h.readiness().reason["assigned"] == ["orders-0", "orders-1"]


def test_revoking_a_restoring_partition_makes_ready_again() -> None:
    h = Health(clock=Clock())
    h.running()
    h.assigned([T0])
    h.revoked([T0])
    assert h.readiness().ready
    assert h.readiness().reason["assigned"] == []


def test_stopping_is_alive_but_not_ready() -> None:
    h = Health(clock=Clock())
    h.running()
    h.stopping()
    assert h.liveness().ready
    assert not h.readiness().ready
    h.stopped()
    assert h.state is State.STOPPED


def test_failed_is_neither_alive_nor_ready_and_says_why() -> None:
    h = Health(clock=Clock())
    h.running()
    h.failed(ValueError("poison record at orders/0@5"))
    assert h.state is State.FAILED
    live = h.liveness()
    assert not live.ready
    assert live.reason["error"] == "ValueError: poison record at orders/0@5"
    assert not h.readiness().ready
    h.stopped()  # a failure is not overwritten by the shutdown that follows
    assert h.state is State.FAILED


def test_stalled_loop_is_not_alive() -> None:
    clock = Clock()
    h = Health(clock=clock, stall_timeout_ms=1000)
    h.running()
    clock.now = 1000
    assert h.liveness().ready
    clock.now = 1001
    assert not h.liveness().ready
    assert "no progress for 1001 ms" in h.liveness().reason["error"]
    h.heartbeat()
    assert h.liveness().ready
