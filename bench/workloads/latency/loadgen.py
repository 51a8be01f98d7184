"""The latency workload's load generator: sends at a fixed rate, stamping each event.

Each event carries ``sent_ns`` (wall clock, taken right before it is handed to the producer)
and ``warmup`` (true during the warm-up phase, whose latencies are not counted). The schedule
is fixed in advance (record i is due at start + i/rate); when the generator falls behind, it
sends what is due at once and reports how far behind it was, so a slow run is visible rather
than hidden by a lower offered load.
"""

from __future__ import annotations

import time

import orjson
from confluent_kafka import Producer

from bench import data
from bench.workloads.common import emit, load_config, producer_config


def main() -> None:
    config = load_config()
    rate = float(config["rate"])
    warmup = int(rate * float(config["warmup_s"]))
    total = warmup + int(rate * float(config["seconds"]))
    events = list(data.events(total, seed=int(config["seed"])))
    producer = Producer(producer_config(config))
    topic = config["input_topic"]
    dumps, produce, time_ns = orjson.dumps, producer.produce, time.time_ns
    max_lag = 0.0
    start = time.perf_counter() + 0.05
    i = 0
    while i < total:
        now = time.perf_counter()
        due = min(total, int((now - start) * rate) + 1)
        if due <= i:
            time.sleep(max(0.0, start + i / rate - now))
            continue
        max_lag = max(max_lag, now - (start + i / rate))
        while i < due:
            key, event = events[i]
            event["warmup"] = i < warmup
            event["sent_ns"] = time_ns()
            while True:
                try:
                    produce(topic, dumps(event), key)
                    break
                except BufferError:
                    producer.poll(0.01)
            i += 1
        producer.poll(0)
    sent_s = time.perf_counter() - start
    remaining = producer.flush(60)
    emit(
        {
            "sent": total,
            "warmup": warmup,
            "undelivered": remaining,
            "send_seconds": sent_s,
            "achieved_rate": total / sent_s,
            "max_schedule_lag_ms": max_lag * 1000.0,
        }
    )


if __name__ == "__main__":
    main()
