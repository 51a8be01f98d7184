"""The windowed workload by hand: a confluent-kafka batch loop with a dict per partition.

Per record: decode, take the event time from the value, add (count, amount) to the
accumulator of (key, 5-minute window) in a dict; when a partition's largest event time reaches
a window's end, emit the final result of every key of that window (the same JSON as strom's)
and drop it. Every ``commit_interval_s``: flush the producer, then commit the positions
(at-least-once for the outputs). The state lives only in the process: a crash loses the open
windows (strom and Quix keep theirs in a store with a changelog; this loop does not).
"""

from __future__ import annotations

import time

import orjson
from confluent_kafka import Consumer, KafkaException, Producer

from bench.stateful.data import WINDOW_MS
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
FAR = 2**63


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
    size = WINDOW_MS
    # partition -> window end -> key -> [count, sum]; the partition's watermark (largest
    # event time) and the end of its earliest open window.
    state: dict[int, dict[int, dict[bytes, list[int]]]] = {}
    marks: dict[int, int] = {}
    next_close: dict[int, int] = {}
    late = produced = commits = 0
    last_commit = time.monotonic()

    def send(value: bytes, key: bytes) -> None:
        while True:
            try:
                produce(out_topic, value, key)
                return
            except BufferError:
                producer.poll(0.05)

    def close(windows: dict[int, dict[bytes, list[int]]], through: int) -> int:
        n = 0
        for end in sorted(e for e in windows if e <= through):
            start = end - size
            for key, (count, total) in windows.pop(end).items():
                name = key.decode()
                send(
                    dumps(
                        {
                            "key": name,
                            "start": start,
                            "end": end,
                            "value": {"count": count, "sum": total},
                        }
                    ),
                    key,
                )
                n += 1
        return n

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
            event = loads(msg.value())
            ts = event["timestamp"]
            p = msg.partition()
            end = ts - ts % size + size
            mark = marks.get(p, NO_TIME)
            if end <= mark:
                late += 1
                continue
            windows = state.get(p)
            if windows is None:
                windows = state[p] = {}
            keys = windows.get(end)
            if keys is None:
                keys = windows[end] = {}
                if end < next_close.get(p, FAR):
                    next_close[p] = end
            key = msg.key()
            acc = keys.get(key)
            if acc is None:
                keys[key] = [1, event["amount"]]
            else:
                acc[0] += 1
                acc[1] += event["amount"]
            if ts > mark:
                marks[p] = ts
                if ts >= next_close[p]:
                    produced += close(windows, ts)
                    next_close[p] = min(windows) if windows else FAR
        meter.tick(len(msgs))
        producer.poll(0)
        now = time.monotonic()
        if now - last_commit >= interval:
            checkpoint(final=False)
            last_commit = now
    checkpoint(final=True)
    consumer.close()
    meter.produced = produced
    meter.stop()
    emit(meter.result(commits=commits, late=late, peak_rss_mib=peak_rss_mib()))


if __name__ == "__main__":
    main()
