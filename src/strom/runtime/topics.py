"""Making sure every topic a plan reads or writes exists, with known partition counts.

* A user topic that exists is used as it is.
* A missing user topic declared with ``partitions=N`` is created; without, it is an error that
  says how to create it.
* A repartition topic gets the partitions its ``key_by`` asked for, or as many as the widest
  topic upstream of it; it is created when missing and must match when it exists.
* The topics of one subtopology (records meeting in a stateful step) must have as many
  partitions (co-partitioned); a changelog topic gets that many, compacted.
"""

from __future__ import annotations

import logging
import time

from strom.dsl.topic import Topic
from strom.errors import ConfigError, TopicExistsError, TopicNotFoundError
from strom.log.protocols import Admin
from strom.log.types import TopicSpec
from strom.runtime.plan import Plan, changelog_topic

log = logging.getLogger("strom.runtime")

# A topic just created may take a moment to show up in the metadata of a Kafka cluster.
_VISIBLE_ATTEMPTS = 25
_VISIBLE_WAIT = 0.2


def prepare_topics(admin: Admin, plan: Plan, *, timeout: float = 30.0) -> dict[str, int]:
    """Check or create every topic of ``plan``; return the partition count of each by name.

    Raises:
        TopicNotFoundError: a user topic is missing and was declared without ``partitions``.
        ConfigError: an existing repartition topic has another partition count than planned.
    """
    partitions: dict[str, int] = {}
    for source in plan.sources.values():
        if not source.topic.internal:
            partitions[source.topic.name] = _ensure(admin, source.topic, "source", timeout)
    for topic in plan.outputs.values():
        if topic.name not in partitions:
            partitions[topic.name] = _ensure(admin, topic, "output", timeout)
    for topic in plan.global_tables.values():
        if topic.name not in partitions:
            partitions[topic.name] = _ensure(admin, topic, "global table", timeout)

    internal = [s.topic for s in plan.sources.values() if s.topic.internal]
    while internal:
        # A repartition topic's count depends on the topics upstream of it, which may be
        # repartition topics themselves; resolve them in dependency order.
        ready = [t for t in internal if plan.upstream[t.name] <= partitions.keys()]
        if not ready:
            raise ConfigError(f"cannot order the repartition topics {[t.name for t in internal]}")
        for topic in ready:
            want = (
                topic.partitions
                or _copartitioned(plan, topic.name, partitions)
                or max(partitions[u] for u in plan.upstream[topic.name])
            )
            have = _ensure(admin, topic, "repartition", timeout, create_with=want)
            if have != want:
                raise ConfigError(
                    f"repartition topic {topic.name!r} has {have} partitions but application "
                    f"{plan.app!r} needs {want} (the widest topic upstream, or key_by(partitions=))"
                    f"; delete the topic so it is created again, or set key_by(partitions={have})"
                )
            partitions[topic.name] = have
            internal.remove(topic)
    _check_copartitioned(plan, partitions)
    for node, subtopology in plan.stateful.items():
        want = partitions[plan.subtopology_topics(subtopology)[0]]
        for spec in plan.stores[node]:
            name = changelog_topic(plan.app, spec.name)
            changelog = Topic(
                name, spec.key, spec.value, want, spec.changelog_config, internal=True
            )
            have = _ensure(admin, changelog, "changelog", timeout, create_with=want)
            if have != want:
                raise ConfigError(
                    f"changelog topic {name!r} of store {spec.name!r} has {have} partitions but "
                    f"the topics it backs have {want}: the input topics changed their partition "
                    "count; the store cannot be restored as it is (delete the changelog topic "
                    "and the application's state to start the store again)"
                )
            partitions[name] = have
    return partitions


def _copartitioned(plan: Plan, name: str, partitions: dict[str, int]) -> int | None:
    """The partition count a repartition topic must have to be co-partitioned with the user
    topics it meets in a stateful step (a join with a table), if any."""
    sub = plan.subtopology.get(name)
    others = [
        partitions[t]
        for t in plan.subtopology_topics(sub or "")
        if t != name and not plan.sources[t].topic.internal and t in partitions
    ]
    return max(others) if others else None


def _check_copartitioned(plan: Plan, partitions: dict[str, int]) -> None:
    for node, subtopology in plan.stateful.items():
        topics = plan.subtopology_topics(subtopology)
        counts = {t: partitions[t] for t in topics}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{t!r} ({n} partitions)" for t, n in counts.items())
            raise ConfigError(
                f"stateful step {node.name!r} reads records of {listed}: they are not "
                "co-partitioned (a key must live in the same partition of each), so one task "
                "cannot hold all of a key's state; re-key the inputs with key_by(..., "
                "partitions=N) before the step so that they are repartitioned alike"
            )


def _ensure(
    admin: Admin, topic: Topic, role: str, timeout: float, *, create_with: int | None = None
) -> int:
    """Partitions of ``topic``, creating it first when it is missing and may be created."""
    try:
        return admin.describe_topic(topic.name, timeout=timeout).partitions
    except TopicNotFoundError:
        pass
    count = create_with if create_with is not None else topic.partitions
    if count is None:
        raise TopicNotFoundError(
            f"{role} topic {topic.name!r} does not exist: create it (strom topics create "
            f"{topic.name} --partitions N), or declare it with app.topic({topic.name!r}, "
            "partitions=N) so that the application creates it"
        )
    try:
        admin.create_topics([TopicSpec(topic.name, count, dict(topic.config))], timeout=timeout)
        log.info("created %s topic %r with %d partitions", role, topic.name, count)
    except TopicExistsError:
        pass  # another process of the application created it first
    for _ in range(_VISIBLE_ATTEMPTS):
        try:
            return admin.describe_topic(topic.name, timeout=timeout).partitions
        except TopicNotFoundError:
            time.sleep(_VISIBLE_WAIT)
    raise TopicNotFoundError(
        f"{role} topic {topic.name!r} was created but is still not visible after "
        f"{_VISIBLE_ATTEMPTS * _VISIBLE_WAIT:.0f} s; check the broker's health"
    )
