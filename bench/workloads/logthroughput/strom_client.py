"""Append and read through strom's Producer/Consumer API, on whichever log the URL names.

Append: ``send`` ``batch`` records, then ``flush`` (the batch is durable: fsynced by the
embedded log under its default per-batch policy, acknowledged by every in-sync replica on Kafka
with acks=all), until ``records`` are written. Read: a group-less consumer assigned to the
partition from the beginning, ``poll(max_records=batch)`` until every record is read.
"""

from __future__ import annotations

import strom.log
from bench.workloads.common import emit, load_config
from bench.workloads.logthroughput.common import Phase, payload
from strom.log import OFFSET_BEGINNING, TopicPartition, TopicSpec


def main() -> None:
    config = load_config()
    records, batch, size = int(config["records"]), int(config["batch"]), int(config["size"])
    topic = config["topic"]
    log = strom.log.connect(config["url"])
    log.admin().create_topics([TopicSpec(topic, partitions=1)])
    value = payload(size)

    settings = config["settings"]
    producer = log.producer(
        options={
            "acks": settings["acks"],
            "enable.idempotence": settings["idempotence"],
            "linger.ms": settings["linger_ms"],
            "compression.type": settings["compression"],
        }
    )
    phase = Phase()
    send, flush = producer.send, producer.flush
    for start in range(0, records, batch):
        for _ in range(min(batch, records - start)):
            send(topic, value)
        flush()
    append = phase.figures(records, size)
    producer.close()

    consumer = log.consumer()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, OFFSET_BEGINNING)
    phase = Phase()
    seen = 0
    empty = 0
    while seen < records and empty < 30:
        got = consumer.poll(max_records=batch, timeout=1.0)
        seen += len(got)
        empty = 0 if got else empty + 1
    read = phase.figures(seen, size)
    consumer.close()
    log.close()
    emit({"phases": {"append": append, "read": read}})


if __name__ == "__main__":
    main()
