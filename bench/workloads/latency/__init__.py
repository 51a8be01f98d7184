"""End-to-end latency of the stateless pipeline on Kafka at a fixed offered load.

The implementations are the stateless workload's scripts, run tailing a fresh input topic,
plus the floor: no pipeline at all, the probe reading the generator's topic.
"""

from __future__ import annotations

from bench.spec import Impl, Workload
from bench.workloads.stateless import WORKLOAD as STATELESS

FLOOR = Impl(
    "floor",
    "no pipeline: the probe reads the input topic (one produce + one fetch)",
    "",
    "raw",
    group_based=False,
    note="the floor of this set-up: a pipeline adds a second produce + fetch hop to it",
)

WORKLOAD = Workload(
    name="latency",
    title="End-to-end latency on Kafka at a fixed offered load",
    kind="latency",
    backend="kafka",
    order=30,
    references=("raw",),
    description=(
        "a load generator sends events at a fixed rate (send time stamped in the value right "
        "before the produce call); a probe reading the output topic takes latency = receive "
        "time - send time for every output record after the warm-up."
    ),
    impls=(FLOOR, *(impl for impl in STATELESS.impls if impl.name != "strom-log")),
)
