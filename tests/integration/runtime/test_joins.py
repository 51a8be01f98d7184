"""Tables and joins through the runtime, on both logs: enrichment from a table (tombstones
included), a table re-keyed into co-partitioning, windowed and table-table joins, a global
table, and the build- and start-time errors of joins that cannot run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strom
import strom.log
from tests.conftest import unique
from tests.integration.runtime.support import create, produce, read, run_until_caught_up


def test_orders_are_enriched_from_the_current_row_of_their_user(
    broker: str, log: strom.log.Log, tmp_path: Path
) -> None:
    app = strom.App(unique("enrich"), broker=broker, state_dir=tmp_path, commit_interval=0.2)
    users_t = app.topic(unique("users"), partitions=2)
    orders_t = app.topic(unique("orders"), partitions=2)
    out = app.topic(unique("enriched"), partitions=2)
    users = app.table(users_t, name="users")
    (
        app.stream(orders_t)
        .join(users, lambda o, u: {**o, "tier": u and u["tier"]}, how="left", name="with-tier")
        .to(out)
    )
    for t in (users_t, orders_t):
        create(log, t.name, 2)
    produce(log, users_t, [("u1", {"tier": "pro"}), ("u2", {"tier": "free"})])
    run_until_caught_up(app, log)
    produce(log, orders_t, [("u1", {"o": 1}), ("u2", {"o": 2}), ("u3", {"o": 3})])
    run_until_caught_up(app, log)
    produce(log, users_t, [("u1", None), ("u3", {"tier": "gold"})])  # a delete, a new row
    run_until_caught_up(app, log)
    produce(log, orders_t, [("u1", {"o": 4}), ("u3", {"o": 5})])
    run_until_caught_up(app, log)  # the table is restored from its changelog in between
    got = sorted((o.value["o"], o.value["tier"]) for o in read(log, out.name))
    assert got == [(1, "pro"), (2, "free"), (3, None), (4, None), (5, "gold")]


def test_a_re_keyed_stream_is_repartitioned_to_the_tables_partitions(
    broker: str, log: strom.log.Log, tmp_path: Path
) -> None:
    app = strom.App(unique("rekey"), broker=broker, state_dir=tmp_path, commit_interval=0.2)
    users_t = app.topic(unique("users"), partitions=3)
    clicks_t = app.topic(unique("clicks"), partitions=2)
    out = app.topic(unique("out"), partitions=3)
    users = app.table(users_t)
    (
        app.stream(clicks_t)
        .key_by(lambda c: c["user"], name="by-user", key=strom.serde.string())
        .join(users, lambda c, u: {**c, "name": u["name"]}, name="named")
        .to(out)
    )
    create(log, users_t.name, 3)
    create(log, clicks_t.name, 2)
    produce(log, users_t, [(f"u{i}", {"name": f"user {i}"}) for i in range(10)])
    run_until_caught_up(app, log)  # the stream never waits for the table: load it first
    produce(log, clicks_t, [(f"c{i}", {"user": f"u{i % 12}", "i": i}) for i in range(60)])
    run_until_caught_up(app, log)
    got = read(log, out.name)
    # Users 10 and 11 have no row: an inner join drops their clicks.
    assert sorted(o.value["i"] for o in got) == [i for i in range(60) if i % 12 < 10]
    assert all(o.value["name"] == f"user {o.value['user'][1:]}" for o in got)
    admin = log.admin()
    try:
        assert admin.describe_topic(f"{app.name}-by-user-repartition").partitions == 3
    finally:
        admin.close()


def test_streams_not_co_partitioned_with_a_table_fail_at_start(
    broker: str, log: strom.log.Log, tmp_path: Path
) -> None:
    app = strom.App(unique("nocopart"), broker=broker, state_dir=tmp_path)
    users_t, orders_t = app.topic(unique("users")), app.topic(unique("orders"))
    out = app.topic(unique("out"), partitions=1)
    app.stream(orders_t).join(app.table(users_t), lambda o, u: o, name="j").to(out)
    create(log, users_t.name, 3)
    create(log, orders_t.name, 2)
    with pytest.raises(strom.errors.ConfigError, match=r"not co-partitioned.*key_by"):
        app.run(broker=broker)


def test_clicks_meet_the_views_shown_within_ten_seconds(
    broker: str, log: strom.log.Log, tmp_path: Path
) -> None:
    app = strom.App(unique("cv"), broker=broker, state_dir=tmp_path, commit_interval=0.2)
    clicks_t = app.topic(unique("clicks"), partitions=2)
    views_t = app.topic(unique("views"), partitions=2)
    out = app.topic(unique("pairs"), partitions=2)
    views = app.stream(views_t)
    (
        app.stream(clicks_t)
        .join(
            views,
            lambda c, v: {"click": c and c["n"], "view": v and v["n"]},
            window=strom.joins.within(timedelta(seconds=10)),
            how="outer",
            name="click-view",
        )
        .to(out)
    )
    for t in (clicks_t, views_t):
        create(log, t.name, 2)
    produce(log, views_t, [("a", {"n": 1})], timestamp=1_000)
    produce(log, clicks_t, [("a", {"n": 10})], timestamp=5_000)  # meets view 1
    produce(log, clicks_t, [("b", {"n": 20})], timestamp=6_000)  # meets nothing
    produce(log, views_t, [("a", {"n": 2})], timestamp=30_000)  # too late for click 10
    # Both inputs move past every window: what found no match is emitted, once.
    produce(log, clicks_t, [(k, {"n": 99}) for k in "ab"], timestamp=100_000)
    produce(log, views_t, [(k, {"n": 99}) for k in "ab"], timestamp=100_000)
    run_until_caught_up(app, log)
    got = sorted(
        ((o.key, o.value["click"], o.value["view"]) for o in read(log, out.name)),
        key=repr,
    )
    assert ("a", 10, 1) in got
    assert ("b", 20, None) in got
    assert ("a", None, 2) in got
    assert ("a", 99, 99) in got and ("b", 99, 99) in got
    assert len(got) == len(set(got)) == 5


def test_a_table_table_join_follows_both_sides() -> None:
    app = strom.App(unique("tt"), state_backend="memory")
    users_t, limits_t, out = app.topic("users"), app.topic("limits"), app.topic("out")
    users, limits = app.table(users_t), app.table(limits_t)
    users.join(limits, lambda u, lim: {**u, "limit": lim}, how="left", name="u-l").to_stream().to(
        out
    )
    with strom.testing.TestDriver(app) as driver:
        steps = [
            (users_t, {"name": "ann"}, "u1", [{"name": "ann", "limit": None}]),
            (limits_t, 100, "u1", [{"name": "ann", "limit": 100}]),
            (limits_t, 50, "u2", []),  # no user: no row in a left join
            (users_t, None, "u1", [None]),  # the user goes: the row goes (a tombstone)
        ]
        for topic, value, key, expected in steps:
            driver.send(topic, value, key=key)
            assert driver.read(out) == expected


def test_a_global_table_is_looked_up_by_any_key(
    broker: str, log: strom.log.Log, tmp_path: Path
) -> None:
    app = strom.App(unique("global"), broker=broker, state_dir=tmp_path, commit_interval=0.2)
    countries_t = app.topic(unique("countries"), partitions=3)
    orders_t = app.topic(unique("orders"), partitions=2)
    out = app.topic(unique("out"), partitions=2)
    countries = app.global_table(countries_t)
    (
        app.stream(orders_t)
        .join(
            countries,
            lambda o, c: {**o, "country": c},
            how="left",
            lookup_key=lambda o: o["cc"],
            name="with-country",
        )
        .to(out)
    )
    create(log, countries_t.name, 3)
    create(log, orders_t.name, 2)
    produce(log, countries_t, [("de", "Germany"), ("fr", "France")])
    produce(
        log, orders_t, [(f"o{i}", {"i": i, "cc": ["de", "fr", "xx"][i % 3]}) for i in range(30)]
    )
    run_until_caught_up(app, log)
    names = {"de": "Germany", "fr": "France", "xx": None}
    got = read(log, out.name)
    assert sorted(o.value["i"] for o in got) == list(range(30))
    assert all(o.value["country"] == names[o.value["cc"]] for o in got)


def test_joins_that_cannot_run_fail_when_built() -> None:
    app = strom.App(unique("bad-join"))
    a, b = app.stream(app.topic("a")), app.stream(app.topic("b"))
    with pytest.raises(strom.errors.ConfigError, match="needs exactly one of window"):
        a.join(b, lambda x, y: x)
    with pytest.raises(strom.errors.ConfigError, match="how must be"):
        a.join(app.table(app.topic("t")), lambda x, y: x, how="outer")
    with pytest.raises(strom.errors.ConfigError, match="cannot be joined with itself"):
        a.join(a, lambda x, y: x, window=strom.joins.within(1000))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["table", "stream"]),
            st.sampled_from(["k1", "k2", "k3"]),
            st.one_of(st.none(), st.integers(0, 9)),
        ),
        max_size=25,
    )
)
def test_stream_table_join_equals_a_plain_lookup(events: list[tuple[str, str, Any]]) -> None:
    """Random updates (tombstones included) and lookups, sent one at a time: each stream
    record meets the table as the updates before it left it."""
    app = strom.App(unique("prop"), state_backend="memory")
    table_t, stream_t, out = app.topic("t"), app.topic("s"), app.topic("out")
    table = app.table(table_t)
    app.stream(stream_t).join(table, lambda s, t: [s, t], how="left", name="j").to(out)
    expected: list[list[Any]] = []
    rows: dict[str, int] = {}
    with strom.testing.TestDriver(app) as driver:
        for i, (side, key, value) in enumerate(events):
            if side == "table":
                driver.send(table_t, value, key=key)
                if value is None:
                    rows.pop(key, None)
                else:
                    rows[key] = value
            else:
                driver.send(stream_t, i, key=key)
                expected.append([i, rows.get(key)])
            driver.run_until_idle()
        assert driver.read(out) == expected
