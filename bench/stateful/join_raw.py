"""Stream-table enrichment by hand: confluent-kafka, the table in a dict.

Reads the table topic from the beginning to its end offsets into a dict (key -> decoded row)
before consuming (outside the measured window, as strom's table is loaded before its measured
run), then: consume a batch of orders, decode, add the user's tier (None if unknown), encode,
produce; every ``commit_interval_s``: flush, then commit (at-least-once).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from bench.stateful.mem import peak_rss_mib
from bench.workloads.common import (
    Meter,
    consume_available,
    consumer_config,
    emit,
    emit_ready,
    load_config,
    producer_config,
)


def load_table(config: dict[str, Any]) -> dict[bytes, Any]:
    """The table topic's rows (the last value per key)."""
    consumer = Consumer({**consumer_config(config), "group.id": config["group"] + "-table"})
    topic, parts = config["table_topic"], int(config["partitions"])
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        for p in range(parts)
    }
    todo = {p: high for p, (low, high) in ends.items() if high > low}
    consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in todo])
    table: dict[bytes, Any] = {}
    loads = orjson.loads
    while todo:
        for msg in consumer.consume(10_000, 1.0):
            if msg.error() is not None:
                raise KafkaException(msg.error())
            value = msg.value()
            if value is None:
                table.pop(msg.key(), None)
            else:
                table[msg.key()] = loads(value)
            if msg.offset() + 1 >= todo.get(msg.partition(), 2**63):
                del todo[msg.partition()]
    consumer.close()
    return table


def main() -> None:
    config = load_config()
    settings = config["settings"]
    out_topic = config["output_topic"]
    batch = int(settings["poll_batch"])
    interval = float(settings["commit_interval_s"])
    meter = Meter(int(config["records"]))
    table = load_table(config)

    consumer = Consumer(consumer_config(config, config["group"]))
    producer = Producer(producer_config(config))
    consumer.subscribe([config["input_topic"]])
    emit_ready()
    loads, dumps, produce, lookup = orjson.loads, orjson.dumps, producer.produce, table.get
    last_commit = time.monotonic()
    commits = 0

    def checkpoint(final: bool) -> None:
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
        for msg in msgs:
            if msg.error() is not None:
                raise KafkaException(msg.error())
            order = loads(msg.value())
            key = msg.key()
            user = lookup(key)
            value = dumps({**order, "tier": None if user is None else user["tier"]})
            while True:
                try:
                    produce(out_topic, value, key)
                    break
                except BufferError:
                    producer.poll(0.05)
        meter.produced += len(msgs)
        meter.tick(len(msgs))
        producer.poll(0)
        now = time.monotonic()
        if now - last_commit >= interval:
            checkpoint(final=False)
            last_commit = now
    checkpoint(final=True)
    consumer.close()
    meter.stop()
    emit(meter.result(commits=commits, table_rows=len(table), peak_rss_mib=peak_rss_mib()))


if __name__ == "__main__":
    main()
