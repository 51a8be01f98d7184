"""The exactly-once benchmark's workloads: strom at-least-once beside strom exactly-once, the
same pipeline, the same input, the same commit interval (one case per interval)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from bench import data
from bench.spec import Impl, Workload

MODULE = "bench.eos.strom_app"
WINDOW_MS = 5 * 60_000


def _impls(pipeline: str) -> tuple[Impl, ...]:
    return (
        Impl(
            "strom-alos",
            "strom, at-least-once",
            MODULE,
            "strom",
            config={"pipeline": pipeline, "guarantee": "at-least-once"},
        ),
        Impl(
            "strom-eos",
            "strom, exactly-once",
            MODULE,
            "strom",
            config={"pipeline": pipeline, "guarantee": "exactly-once"},
        ),
    )


def closed_windows(acts: Sequence[str], partitions: int = 4) -> int:
    """Results the windowed pipeline emits for the run's input: per input partition (the
    filler's partitioner: CRC-32 of the key), the (user, 5-minute window) pairs whose window
    ended at or before the partition's largest event time (its watermark; grace 0)."""
    seen: list[set[tuple[str, int]]] = [set() for _ in range(partitions)]
    watermark = [0] * partitions
    for key, event in data.events(len(acts)):
        p = zlib.crc32(key) % partitions
        ts = int(event["timestamp"])  # type: ignore[call-overload]
        watermark[p] = max(watermark[p], ts)
        seen[p].add((str(event["user_id"]), ts - ts % WINDOW_MS))
    return sum(
        1 for p in range(partitions) for _, start in seen[p] if start + WINDOW_MS <= watermark[p]
    )


INTERVALS = ((0.1, "100ms", "100 ms"), (1.0, "1s", "1 s"))


def _throughput(pipeline: str, interval: float, tag: str, text: str, order: int) -> Workload:
    if pipeline == "stateless":
        title = f"Exactly-once cost: stateless pipeline on Kafka, commit every {text}"
        description = (
            'the stateless workload (filter action == "login", map adding one field, to an '
            "output topic) at-least-once and exactly-once (a transaction per commit holding "
            "the outputs and the input offsets); outputs counted read_committed; records/s "
            "as in the stateless workload (the final commit inside the window)."
        )
        expected = data.login_count
    else:
        title = f"Exactly-once cost: windowed count on Kafka, commit every {text}"
        description = (
            "a count per user in tumbling 5-minute windows of event time (RocksDB store with "
            "its changelog; final results), at-least-once and exactly-once (outputs, "
            "changelog records and input offsets in one transaction per commit); outputs "
            "counted read_committed against the windows the input closes."
        )
        expected = closed_windows
    return Workload(
        name=f"eos-{pipeline}-{tag}",
        title=title,
        kind="pipeline",
        backend="kafka",
        order=order,
        references=("strom-alos",),
        expected_outputs=expected,
        config={"commit_interval_s": interval},
        description=description,
        impls=_impls(pipeline),
    )


THROUGHPUT = tuple(
    _throughput(pipeline, interval, tag, text, 200 + 10 * i)
    for i, (pipeline, (interval, tag, text)) in enumerate(
        (p, i) for p in ("stateless", "windowed") for i in INTERVALS
    )
)

LATENCY = Workload(
    name="eos-latency",
    title="End-to-end latency under exactly-once on Kafka",
    kind="latency",
    backend="kafka",
    order=250,
    references=("strom-alos-100ms",),
    description=(
        "the latency workload's load (fixed offered rate, warm-up then measured seconds) "
        "through the stateless pipeline; the probe reads read_committed, so under "
        "exactly-once an output counts from the commit of its transaction (the commit "
        "interval bounds the added latency)."
    ),
    impls=(
        Impl(
            "strom-alos-100ms",
            "strom, at-least-once, commit every 100 ms",
            MODULE,
            "strom",
            config={"guarantee": "at-least-once", "commit_interval_s": 0.1},
        ),
        Impl(
            "strom-eos-100ms",
            "strom, exactly-once, commit every 100 ms",
            MODULE,
            "strom",
            config={"guarantee": "exactly-once", "commit_interval_s": 0.1},
        ),
        Impl(
            "strom-eos-1s",
            "strom, exactly-once, commit every 1 s",
            MODULE,
            "strom",
            config={"guarantee": "exactly-once", "commit_interval_s": 1.0},
        ),
    ),
)

WORKLOADS = (*THROUGHPUT, LATENCY)
