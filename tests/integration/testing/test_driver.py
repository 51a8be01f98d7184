"""strom.testing.TestDriver: an application on a temporary embedded log, in-process."""

from __future__ import annotations

from typing import Any

import pytest

import strom
import strom.log
import strom.sinks
from strom.context import current
from strom.errors import ProcessingError, SerializationError
from strom.log import TopicPartition
from strom.runtime.runner import Runner

TS = 1_700_000_000_000


def login_app(**kwargs: Any) -> tuple[strom.App, strom.Topic, strom.Topic]:
    app = strom.App("logins", **kwargs)
    events = app.topic("events", partitions=2)
    out = app.topic("out", partitions=3)
    (
        app.stream(events)
        .filter(lambda e: e["action"] == "login", name="logins")
        .map_values(lambda e: {**e, "tier": "gold" if e["user"] < "m" else "free"}, name="tier")
        .key_by(lambda e: e["tier"], name="by-tier")
        .to(out)
    )
    return app, events, out


def test_send_and_read_through_filter_map_and_repartition() -> None:
    app, events, out = login_app()
    with strom.testing.TestDriver(app) as driver:
        for user, action in [("ann", "login"), ("zoe", "login"), ("bob", "view"), ("kim", "login")]:
            driver.send(events, {"user": user, "action": action}, key=user, timestamp=TS)
        records = driver.read_records(out)
    assert sorted((r.key, r.value["user"]) for r in records) == [
        ("free", "zoe"),
        ("gold", "ann"),
        ("gold", "kim"),
    ]
    assert all(r.timestamp == TS for r in records)
    # One new key, one partition.
    assert len({r.partition for r in records if r.key == "gold"}) == 1


def test_read_returns_only_records_not_read_before() -> None:
    app = strom.App("echo")
    events, out = app.topic("events"), app.topic("out")
    app.stream(events).map(lambda n: n + 1, name="inc").to(out)
    with strom.testing.TestDriver(app) as driver:
        driver.send(events, 1)
        assert driver.read(out) == [2]
        assert driver.read(out) == []
        driver.send("events", 10)
        driver.send(events, 20)
        assert driver.read("out") == [11, 21]


def test_headers_keys_and_metadata_reach_user_functions() -> None:
    app = strom.App("meta")
    events, out = app.topic("events"), app.topic("out")
    app.stream(events).map(
        lambda v: [v, current().key, current().offset, current().headers[0][1].decode()],
        name="describe",
    ).to(out)
    with strom.testing.TestDriver(app) as driver:
        driver.send(events, "a", key="k1", headers={"h": "x"})
        driver.send(events, "b", key="k2", headers={"h": "y"})
        records = driver.read_records(out)
    assert [r.value for r in records] == [["a", "k1", 0, "x"], ["b", "k2", 1, "y"]]
    assert [r.key for r in records] == ["k1", "k2"]
    assert [r.headers for r in records] == [(("h", b"x"),), (("h", b"y"),)]


def test_branch_merge_and_sink() -> None:
    class Keep(strom.sinks.BatchingSink):
        def __init__(self) -> None:
            super().__init__()
            self.values: list[Any] = []

        def write(self, batch: list[strom.sinks.SinkRecord]) -> None:
            self.values.extend(r.value for r in batch)

    app = strom.App("routes")
    numbers, out = app.topic("numbers"), app.topic("out")
    sink = Keep()
    parts = app.stream(numbers).branch({"even": lambda n: n % 2 == 0}, name="parity")
    parts["even"].map(lambda n: n * 100, name="hundreds").merge(parts["default"]).to(out)
    parts["default"].sink(sink, name="odd-sink")
    with strom.testing.TestDriver(app) as driver:
        for n in range(6):
            driver.send(numbers, n)
        assert sorted(driver.read(out)) == [0, 1, 3, 5, 200, 400]
    assert sink.values == [1, 3, 5]


def test_failure_surfaces_with_step_and_position_and_commits_up_to_it() -> None:
    app = strom.App("fragile")
    events, out = app.topic("events"), app.topic("out")

    def check(n: int) -> int:
        if n == 3:
            raise ValueError("three is not allowed")
        return n

    app.stream(events).map(check, name="check").to(out)
    with strom.testing.TestDriver(app) as driver:
        for n in range(6):
            driver.send(events, n)
        with pytest.raises(ProcessingError) as info:
            driver.run_until_idle()
        assert driver.committed() == {TopicPartition("events", 0): 3}
    error = info.value
    assert (error.step, error.topic, error.partition, error.offset) == ("check", "events", 0, 3)
    assert "step 'check' raised ValueError: three is not allowed" in str(error)
    assert "offset=3" in str(error)
    assert isinstance(error.__cause__, ValueError)


def test_undecodable_value_is_a_serialization_error_naming_the_record() -> None:
    app = strom.App("decoding")
    events, out = app.topic("events"), app.topic("out")
    app.stream(events).to(out)
    with strom.testing.TestDriver(app) as driver:
        driver.send(events, {"ok": 1})
        assert driver.read(out) == [{"ok": 1}]
        log = strom.log.connect(driver.url)
        producer = log.producer()
        producer.send("events", b"{not json", b"k")  # what a broken producer writes
        producer.close()
        log.close()
        with pytest.raises(SerializationError, match="offset=1") as info:
            driver.run_until_idle()
        assert driver.committed() == {TopicPartition("events", 0): 1}
    assert (info.value.topic, info.value.partition, info.value.offset) == ("events", 0, 1)
    assert "cannot deserialize the value" in str(info.value)


def test_the_driver_runs_the_applications_own_runner() -> None:
    app = strom.App("same-code", guarantee="at-most-once")
    events, out = app.topic("events"), app.topic("out")
    app.stream(events).to(out)
    with strom.testing.TestDriver(app) as driver:
        assert type(driver.runner) is Runner
        # The app's own settings, but its state lives in the driver's temporary directory.
        assert driver.runner.settings.guarantee == app.settings.guarantee
        assert driver.runner.settings.state_dir.startswith(driver.url[len("local://") :])
        driver.send(events, "x")
        assert driver.read(out) == ["x"]
