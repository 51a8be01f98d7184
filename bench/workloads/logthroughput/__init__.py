"""Log throughput: append and read through strom's Producer/Consumer API.

The same client work on the embedded log and on Kafka (strom's Kafka backend), and a raw
sequential file write with fsync per batch as the floor.
"""

from __future__ import annotations

from bench.spec import Impl, Workload

PKG = "bench.workloads.logthroughput"

WORKLOAD = Workload(
    name="log",
    title="Log throughput: append and read, embedded log vs Kafka vs raw file",
    kind="log",
    backend="local",
    order=40,
    references=("strom-kafka", "raw-file"),
    cases=({"case": "100B", "size": 100}, {"case": "1KiB", "size": 1024}),
    description=(
        "append: send a batch of records then flush (durable: fsync on the embedded log, "
        "acks=all on Kafka), until every record is written; read: one consumer, assigned, "
        "from the beginning, polling batches. One partition. MB/s counts payload bytes."
    ),
    impls=(
        Impl("strom-local", "strom.log on local://", f"{PKG}.strom_client", "strom"),
        Impl(
            "strom-kafka",
            "strom.log on Kafka",
            f"{PKG}.strom_client",
            "strom",
            backend="kafka",
        ),
        Impl(
            "raw-file",
            "raw sequential file (fsync per batch)",
            f"{PKG}.raw_file",
            "raw",
            backend="file",
        ),
    ),
)
