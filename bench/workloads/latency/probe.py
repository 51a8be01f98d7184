"""The latency workload's probe: reads the output topic and measures now - send time.

It reads every partition of the output topic from the beginning (no group), takes the wall
clock once per fetched batch, right after the fetch returns, and subtracts each record's
``sent_ns``. Warm-up records are counted but not measured. It stops when it has seen the
expected number of outputs, or at its deadline.
"""

from __future__ import annotations

import time

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from bench.workloads.common import consume_available, emit, emit_ready, load_config


def percentile(ordered: list[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in milliseconds."""
    if not ordered:
        return float("nan")
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank] / 1e6


def main() -> None:
    config = load_config()
    expected = int(config["expected"])
    deadline = time.monotonic() + float(config["timeout_s"])
    consumer = Consumer(
        {
            "bootstrap.servers": config["bootstrap"],
            "group.id": "bench-latency-probe",
            "enable.auto.commit": False,
        }
    )
    topic = config["output_topic"]
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
    consumer.consume(num_messages=1, timeout=0.5)
    emit_ready()
    loads, time_ns = orjson.loads, time.time_ns
    latencies: list[int] = []
    received = 0
    while received < expected and time.monotonic() < deadline:
        msgs = consume_available(consumer, 1000, 0.2)
        now = time_ns()
        for msg in msgs:
            if msg.error() is not None:
                raise KafkaException(msg.error())
            event = loads(msg.value())
            received += 1
            if not event.get("warmup", False):
                latencies.append(now - int(event["sent_ns"]))
    consumer.close()
    latencies.sort()
    emit(
        {
            "expected": expected,
            "received": received,
            "measured": len(latencies),
            "p50_ms": percentile(latencies, 0.50),
            "p90_ms": percentile(latencies, 0.90),
            "p99_ms": percentile(latencies, 0.99),
            "p999_ms": percentile(latencies, 0.999),
            "max_ms": latencies[-1] / 1e6 if latencies else float("nan"),
        }
    )


if __name__ == "__main__":
    main()
