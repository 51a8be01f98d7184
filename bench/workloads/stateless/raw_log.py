"""A hand-written batch loop over strom's log API (``strom.log``), on Kafka or ``local://``.

On ``local://`` this is the reference ("raw") of the embedded-log pipeline: the best a user
can write by hand against the embedded log. On Kafka it sits between the raw confluent-kafka
loop and ``strom.App``: the difference to the former is the cost of strom's Kafka backend,
the difference to the latter the cost of the DSL and runtime.

poll a batch -> orjson decode -> filter -> map -> orjson encode -> send; every
``commit_interval_s``: flush (all outputs acknowledged), then commit the positions.
"""

from __future__ import annotations

import time

import orjson

import strom.log
from bench.workloads.common import LOGIN, Meter, emit, emit_ready, load_config


def main() -> None:
    config = load_config()
    settings = config["settings"]
    out_topic = config["output_topic"]
    batch = int(settings["poll_batch"])
    interval = float(settings["commit_interval_s"])
    meter = Meter(int(config["records"]))
    options = {
        "acks": settings["acks"],
        "enable.idempotence": settings["idempotence"],
        "linger.ms": settings["linger_ms"],
        "compression.type": settings["compression"],
    }
    log = strom.log.connect(config["url"])
    # One options dict serves both logs: the embedded log ignores the Kafka-only ones.
    producer = log.producer(options=options)
    consumer = log.consumer(config["group"], auto_offset_reset="earliest")
    consumer.subscribe([config["input_topic"]])
    emit_ready()

    loads, dumps, send = orjson.loads, orjson.dumps, producer.send
    last_commit = time.monotonic()
    commits = 0

    def checkpoint() -> None:
        nonlocal commits
        producer.flush()
        consumer.commit()
        commits += 1

    while not meter.done:
        records = consumer.poll(max_records=batch, timeout=1.0)
        if not records:
            continue
        meter.start()
        produced = 0
        for record in records:
            event = loads(record.value)
            if event["action"] == LOGIN:
                out = {**event, "login_hour": (event["timestamp"] // 3_600_000) % 24}
                send(out_topic, dumps(out), record.key)
                produced += 1
        meter.produced += produced
        meter.tick(len(records))
        now = time.monotonic()
        if now - last_commit >= interval:
            checkpoint()
            last_commit = now
    checkpoint()
    consumer.close()
    producer.close()
    log.close()
    meter.stop()
    emit(meter.result(commits=commits))


if __name__ == "__main__":
    main()
