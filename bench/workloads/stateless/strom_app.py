"""The stateless workload in strom: ``app.stream(events).filter(...).map(...).to(out)``.

strom's json serde (orjson), at-least-once, the shared commit interval and records per poll,
the shared producer settings (the embedded log takes linger.ms and ignores the rest). The
counting filter stops the app (``app.stop()``) once the target is consumed.
"""

from __future__ import annotations

import strom
import strom.serde
from bench.workloads.common import (
    Meter,
    counting_enrich,
    counting_filter,
    emit,
    emit_ready,
    load_config,
)


def main() -> None:
    config = load_config()
    settings = config["settings"]
    app: strom.App | None = None

    def done() -> None:
        assert app is not None
        app.stop()

    meter = Meter(int(config["records"]), on_done=done)
    # One options dict serves both logs: the embedded log ignores the Kafka-only ones.
    producer_options = {
        "acks": settings["acks"],
        "enable.idempotence": settings["idempotence"],
        "linger.ms": settings["linger_ms"],
        "compression.type": settings["compression"],
    }
    app = strom.App(
        config["group"],
        broker=config["url"],
        guarantee="at-least-once",
        commit_interval=float(settings["commit_interval_s"]),
        batch_size=int(settings["poll_batch"]),
        auto_offset_reset="earliest",
        producer_options=producer_options,
    )
    events = app.topic(config["input_topic"], key=strom.serde.bytes_(), value=strom.serde.json())
    out = app.topic(config["output_topic"], key=strom.serde.bytes_(), value=strom.serde.json())
    (
        app.stream(events)
        .filter(counting_filter(meter), name="logins")
        .map(counting_enrich(meter), name="enrich")
        .to(out)
    )
    emit_ready()
    app.run()
    meter.stop()
    emit(meter.result())


if __name__ == "__main__":
    main()
