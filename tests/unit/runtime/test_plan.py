"""Planning: live steps, where repartitions go, and which topics a plan reads and writes."""

from __future__ import annotations

import pytest

import strom
from strom.errors import ConfigError
from strom.runtime.plan import build_plan


@pytest.fixture
def app() -> strom.App:
    return strom.App("plan", broker="local:///tmp/unused")


def test_an_app_without_terminal_cannot_run(app: strom.App) -> None:
    app.stream(app.topic("events")).map(str)
    with pytest.raises(ConfigError, match="has no pipeline"):
        build_plan(app.graph)


def test_steps_leading_to_no_terminal_are_dropped(app: strom.App) -> None:
    events, out = app.topic("events"), app.topic("out")
    s = app.stream(events)
    s.map(str, name="dangling")
    s.filter(bool, name="kept").to(out)
    plan = build_plan(app.graph)
    assert sorted(n.name for n in plan.children) == ["kept", "source:events", "to-1"]


def test_key_by_before_a_stateful_step_is_repartitioned_with_steps_after_it(
    app: strom.App,
) -> None:
    events, out = app.topic("events", partitions=4), app.topic("out")
    (
        app.stream(events)
        .filter(bool, name="f")
        .key_by(str, name="by-user")
        .map(str, name="after")
        .count(name="n")
        .to(out)
    )
    plan = build_plan(app.graph)
    assert set(plan.sources) == {"events", "plan-by-user-repartition"}
    repartition = plan.sources["plan-by-user-repartition"]
    assert repartition.topic.internal
    assert [n.name for n in repartition.roots] == ["after"]
    assert plan.upstream == {"plan-by-user-repartition": frozenset({"events"})}


def test_key_by_followed_only_by_sinks_is_not_repartitioned(app: strom.App) -> None:
    app.stream(app.topic("events")).key_by(str, name="k").for_each(print)
    assert set(build_plan(app.graph).sources) == {"events"}


def test_key_by_then_to_writes_straight_to_the_topic(app: strom.App) -> None:
    events, out = app.topic("events"), app.topic("out")
    app.stream(events).key_by(str, name="k").map(str, name="after").to(out)
    plan = build_plan(app.graph)
    assert set(plan.sources) == {"events"}
    assert plan.repartitions == {}


def test_only_the_nearest_key_by_is_repartitioned(app: strom.App) -> None:
    events, out = app.topic("events"), app.topic("out")
    (
        app.stream(events)
        .key_by(str, name="first")
        .key_by(repr, name="second")
        .count(name="n")
        .to(out)
    )
    assert set(build_plan(app.graph).sources) == {"events", "plan-second-repartition"}


def test_one_repartition_is_shared_by_every_branch_after_a_key_by(app: strom.App) -> None:
    events, a, b = app.topic("events"), app.topic("a"), app.topic("b")
    keyed = app.stream(events).key_by(str, name="k")
    keyed.map(str, name="to-a").count(name="count-a").to(a)
    keyed.map(repr, name="to-b").count(name="count-b").to(b)
    plan = build_plan(app.graph)
    assert set(plan.sources) == {"events", "plan-k-repartition"}
    assert [n.name for n in plan.sources["plan-k-repartition"].roots] == ["to-a", "to-b"]


def test_chained_repartitions_know_their_upstream(app: strom.App) -> None:
    e1, e2, out = app.topic("e1"), app.topic("e2"), app.topic("out")
    first = app.stream(e1).key_by(str, name="k1").count(name="n1")
    first.to(out, name="out-1")
    first.merge(app.stream(e2)).key_by(str, name="k2").count(name="n2").to(out, name="out-2")
    plan = build_plan(app.graph)
    assert plan.upstream["plan-k2-repartition"] == frozenset({"plan-k1-repartition", "e2"})


def test_stateful_steps_group_their_topics_and_get_changelogs(app: strom.App) -> None:
    a, b, out = app.topic("a"), app.topic("b"), app.topic("out")
    app.stream(a).merge(app.stream(b)).count(name="both").to(out)
    app.stream(app.topic("c")).to(out, name="plain")
    plan = build_plan(app.graph)
    assert plan.subtopology == {"a": "a", "b": "a", "c": "c"}
    assert list(plan.stateful.values()) == ["a"]
    assert list(plan.changelogs) == ["plan-both-changelog"]
    assert plan.changelogs["plan-both-changelog"].changelog_config == {"cleanup.policy": "compact"}


def test_a_declared_topic_cannot_take_a_repartition_topic_name(app: strom.App) -> None:
    app.topic("plan-k-repartition")
    app.stream(app.topic("events")).key_by(str, name="k").count(name="n").to(app.topic("out"))
    with pytest.raises(ConfigError, match="internal repartition topic of step 'k'"):
        build_plan(app.graph)


def test_children_keep_the_order_of_their_terminals(app: strom.App) -> None:
    events, a, b = app.topic("events"), app.topic("a"), app.topic("b")
    s = app.stream(events)
    s.to(a, name="first")
    s.to(b, name="second")
    plan = build_plan(app.graph)
    source = plan.sources["events"]
    assert [n.name for n in source.roots] == ["first", "second"]
