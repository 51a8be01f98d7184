"""The hand-written confluent-kafka batch loop: the best a user can write by hand.

consume a batch -> orjson decode -> filter -> map -> orjson encode -> produce; every
``commit_interval_s``: flush the producer (all outputs acknowledged), then commit the consumed
positions (at-least-once).
"""

from __future__ import annotations

import time

import orjson
from confluent_kafka import Consumer, KafkaException, Producer

from bench.workloads.common import (
    LOGIN,
    Meter,
    consume_available,
    consumer_config,
    emit,
    emit_ready,
    load_config,
    producer_config,
)


def main() -> None:
    config = load_config()
    settings = config["settings"]
    out_topic = config["output_topic"]
    batch = int(settings["poll_batch"])
    interval = float(settings["commit_interval_s"])
    meter = Meter(int(config["records"]))

    consumer = Consumer(consumer_config(config, config["group"]))
    producer = Producer(producer_config(config))
    consumer.subscribe([config["input_topic"]])
    emit_ready()

    loads, dumps, produce = orjson.loads, orjson.dumps, producer.produce
    last_commit = time.monotonic()
    commits = 0

    def checkpoint(final: bool) -> None:
        # Outputs first (flush returns once every one is acknowledged), then the offsets:
        # at-least-once. The periodic commit is asynchronous so the loop does not stall for
        # the commit's round trip; the final one is synchronous.
        nonlocal commits
        producer.flush()
        positions = [tp for tp in consumer.position(consumer.assignment()) if tp.offset >= 0]
        if positions:
            consumer.commit(offsets=positions, asynchronous=not final)
            commits += 1

    while not meter.done:
        msgs = consume_available(consumer, batch, 1.0)
        if not msgs:
            continue
        meter.start()
        produced = 0
        for msg in msgs:
            if msg.error() is not None:
                raise KafkaException(msg.error())
            event = loads(msg.value())
            if event["action"] == LOGIN:
                out = {**event, "login_hour": (event["timestamp"] // 3_600_000) % 24}
                value = dumps(out)
                while True:
                    try:
                        produce(out_topic, value, msg.key())
                        break
                    except BufferError:
                        producer.poll(0.05)
                produced += 1
        meter.produced += produced
        meter.tick(len(msgs))
        producer.poll(0)
        now = time.monotonic()
        if now - last_commit >= interval:
            checkpoint(final=False)
            last_commit = now
    checkpoint(final=True)
    consumer.close()
    meter.stop()
    emit(meter.result(commits=commits))


if __name__ == "__main__":
    main()
