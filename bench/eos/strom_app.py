"""strom's pipelines for the exactly-once benchmark, by ``pipeline`` and ``guarantee``.

- ``stateless``: the stateless workload's ``filter(login) -> map(enrich) -> to(out)``;
- ``windowed``: ``window(tumbling(5 min), timestamp=event time).count()`` per user (the input
  is keyed by user: no repartition), final results to the output topic.

``guarantee``: ``at-least-once`` or ``exactly-once``; ``commit_interval_s`` from the case (else
the run's setting). Shared producer settings and records per poll; the app stops itself once
the target is consumed (its final commit is inside the measured window).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

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

WINDOW = timedelta(minutes=5)


def main() -> None:
    # Warnings (an aborted transaction, a failed commit) explain a slow or odd run.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = load_config()
    settings = config["settings"]
    app: strom.App | None = None

    def done() -> None:
        assert app is not None
        app.stop()

    meter = Meter(int(config["records"]), on_done=done)
    producer_options = {
        "acks": settings["acks"],
        "enable.idempotence": settings["idempotence"],
        "linger.ms": settings["linger_ms"],
        "compression.type": settings["compression"],
    }
    app = strom.App(
        config["group"],
        broker=config["url"],
        guarantee=config.get("guarantee", "at-least-once"),
        commit_interval=float(config.get("commit_interval_s") or settings["commit_interval_s"]),
        batch_size=int(settings["poll_batch"]),
        auto_offset_reset="earliest",
        producer_options=producer_options,
        state_dir=config["state_dir"],
    )
    stateless = config.get("pipeline", "stateless") == "stateless"
    # Window results carry their key in the value: a string (JSON has no bytes).
    key = strom.serde.bytes_() if stateless else strom.serde.string()
    events = app.topic(config["input_topic"], key=key, value=strom.serde.json())
    out = app.topic(config["output_topic"], key=key, value=strom.serde.json())
    stream = app.stream(events)
    if stateless:
        (
            stream.filter(counting_filter(meter), name="logins")
            .map(counting_enrich(meter), name="enrich")
            .to(out)
        )
    else:
        tick = meter.tick

        def event_time(event: dict[str, Any]) -> int:
            tick()
            return int(event["timestamp"])

        stream.window(strom.windows.tumbling(WINDOW), timestamp=event_time).count(
            name="per-user-5m"
        ).to(out)
    emit_ready()
    app.run()
    meter.stop()
    emit(meter.result())


if __name__ == "__main__":
    main()
