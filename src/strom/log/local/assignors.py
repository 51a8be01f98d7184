"""Partition assignment strategies for consumer groups (Kafka's ``range`` and ``roundrobin``).

Both are deterministic functions of the members (sorted by id), their subscriptions and the
partition counts, so any member can compute the assignment and all agree.

Example:
    >>> members = {"a": ["t"], "b": ["t"]}
    >>> range_assign(members, {"t": 3})
    {'a': [TopicPartition(topic='t', partition=0), TopicPartition(topic='t', partition=1)], \
'b': [TopicPartition(topic='t', partition=2)]}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from strom.errors import ConfigError
from strom.log.types import TopicPartition

Assignment = dict[str, list[TopicPartition]]


def range_assign(members: Mapping[str, Sequence[str]], partitions: Mapping[str, int]) -> Assignment:
    """Per topic, contiguous ranges of partitions to the members subscribed to it."""
    out: Assignment = {member: [] for member in members}
    for topic in sorted(partitions):
        subscribers = sorted(m for m, topics in members.items() if topic in topics)
        if not subscribers:
            continue
        count = partitions[topic]
        share, extra = divmod(count, len(subscribers))
        start = 0
        for i, member in enumerate(subscribers):
            size = share + (1 if i < extra else 0)
            out[member].extend(TopicPartition(topic, p) for p in range(start, start + size))
            start += size
    return out


def roundrobin_assign(
    members: Mapping[str, Sequence[str]], partitions: Mapping[str, int]
) -> Assignment:
    """All partitions, in order, dealt one by one to the members subscribed to their topic."""
    out: Assignment = {member: [] for member in members}
    ordered = sorted(members)
    if not ordered:
        return out
    turn = 0
    for topic in sorted(partitions):
        for p in range(partitions[topic]):
            for _ in range(len(ordered)):
                member = ordered[turn % len(ordered)]
                turn += 1
                if topic in members[member]:
                    out[member].append(TopicPartition(topic, p))
                    break
    return out


STRATEGIES: dict[str, Callable[[Mapping[str, Sequence[str]], Mapping[str, int]], Assignment]] = {
    "range": range_assign,
    "roundrobin": roundrobin_assign,
}


def strategy(name: str) -> Callable[[Mapping[str, Sequence[str]], Mapping[str, int]], Assignment]:
    """The assignor called ``name`` (the first of a comma list that we know)."""
    for candidate in (n.strip().lower() for n in name.split(",")):
        if candidate in STRATEGIES:
            return STRATEGIES[candidate]
    raise ConfigError(
        f"partition.assignment.strategy={name!r} is not supported by the embedded log: "
        "use 'range' or 'roundrobin'"
    )
