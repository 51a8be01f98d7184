"""Stateless pipeline on Kafka: JSON -> filter(action == "login") -> map(+1 field) -> JSON.

Every implementation drains the same pre-filled input topic into a fresh output topic,
at-least-once, with the shared producer settings and commit interval.
"""

from __future__ import annotations

from bench.data import login_count
from bench.spec import Impl, Workload

PKG = "bench.workloads.stateless"

WORKLOAD = Workload(
    name="stateless",
    title="Stateless pipeline on Kafka (at-least-once)",
    kind="pipeline",
    backend="kafka",
    order=10,
    references=("raw",),
    expected_outputs=login_count,
    description=(
        'consume JSON events -> filter action == "login" (keeps ~40%) -> map adding one '
        "field -> produce JSON to an output topic; records/s = input records / window (first "
        "record reaching the implementation's code -> its run call returned after the final "
        "flush + commit)."
    ),
    impls=(
        Impl("raw", "hand-written confluent-kafka loop", f"{PKG}.raw_confluent", "raw"),
        Impl("strom", "strom", f"{PKG}.strom_app", "strom"),
        Impl(
            "strom-log",
            "hand-written loop over strom.log (Kafka backend)",
            f"{PKG}.raw_log",
            "strom-log",
            note="diagnostic row: strom's log API without the DSL/runtime",
        ),
        Impl("quix", "Quix Streams", f"{PKG}.quix_app", "quix", env="quix"),
        Impl(
            "faust",
            "faust-streaming",
            f"{PKG}.faust_app",
            "faust",
            env="faust",
            note="faust enables producer idempotence only in exactly-once mode: acks=all "
            "without idempotence",
        ),
        Impl(
            "bytewax",
            "Bytewax",
            f"{PKG}.bytewax_flow",
            "bytewax",
            env="bytewax",
            group_based=False,
            # Tailing (latency mode), it cannot stop by itself: the runner sends SIGINT.
            config={"stop_signal": "SIGINT", "tails_forever": True},
            note="Bytewax keeps input offsets in its recovery store (snapshot every epoch = "
            "the commit interval), not in a Kafka group; its sink flushes every batch",
        ),
    ),
)
