"""Windowed stream-stream join by hand: confluent-kafka, both sides buffered in dicts.

One consumer on the impression and click topics. Per record: look up the other side's
buffered records of the same key (per partition) and emit every pair at most 10 s apart
(``{"impression": id, "click": id}``), then buffer the record. Each partition's watermark is
the smaller of the two topics' largest timestamps; at every commit, buffered records more than
10 s behind it are dropped (no later record can join them: each topic's partitions are in
time order). Every ``commit_interval_s``: flush, then commit (at-least-once). The buffers live
only in the process.
"""

from __future__ import annotations

import time

import orjson
from confluent_kafka import Consumer, KafkaException, Producer

from bench.stateful.join_data import JOIN_WINDOW_MS
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

NO_TIME = -(2**63)


def main() -> None:
    config = load_config()
    settings = config["settings"]
    out_topic = config["output_topic"]
    imp_topic = config["input_topic"]
    batch = int(settings["poll_batch"])
    interval = float(settings["commit_interval_s"])
    meter = Meter(int(config["records"]))
    window = JOIN_WINDOW_MS

    consumer = Consumer(consumer_config(config, config["group"]))
    producer = Producer(producer_config(config))
    consumer.subscribe([imp_topic, config["click_topic"]])
    emit_ready()
    loads, dumps, produce = orjson.loads, orjson.dumps, producer.produce
    # (partition, side) -> key -> [(timestamp, id)]; side True = impressions
    buffers: dict[tuple[int, bool], dict[bytes, list[tuple[int, int]]]] = {}
    latest: dict[tuple[int, bool], int] = {}
    last_commit = time.monotonic()
    commits = produced = 0

    def expire() -> None:
        for (p, _side), keys in buffers.items():
            mark = min(latest.get((p, True), NO_TIME), latest.get((p, False), NO_TIME))
            horizon = mark - window
            for key in list(keys):
                kept = [e for e in keys[key] if e[0] >= horizon]
                if kept:
                    keys[key] = kept
                else:
                    del keys[key]

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
            side = msg.topic() == imp_topic
            p = msg.partition()
            ts = msg.timestamp()[1]
            key = msg.key()
            rid = loads(msg.value())["id"]
            if ts > latest.get((p, side), NO_TIME):
                latest[(p, side)] = ts
            others = buffers.get((p, not side))
            matches = others.get(key) if others is not None else None
            if matches:
                for t, other in matches:
                    if -window <= t - ts <= window:
                        pair = (
                            {"impression": rid, "click": other}
                            if side
                            else {
                                "impression": other,
                                "click": rid,
                            }
                        )
                        value = dumps(pair)
                        while True:
                            try:
                                produce(out_topic, value, key)
                                break
                            except BufferError:
                                producer.poll(0.05)
                        produced += 1
            mine = buffers.get((p, side))
            if mine is None:
                mine = buffers[(p, side)] = {}
            entries = mine.get(key)
            if entries is None:
                mine[key] = [(ts, rid)]
            else:
                entries.append((ts, rid))
        meter.tick(len(msgs))
        producer.poll(0)
        now = time.monotonic()
        if now - last_commit >= interval:
            expire()
            checkpoint(final=False)
            last_commit = now
    checkpoint(final=True)
    consumer.close()
    meter.produced = produced
    meter.stop()
    emit(meter.result(commits=commits, peak_rss_mib=peak_rss_mib()))


if __name__ == "__main__":
    main()
