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
import time
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
from strom.runtime.checkpoint import Checkpoint
from strom.runtime.runner import Runner

WINDOW = timedelta(minutes=5)


class Commits:
    """Times the runtime's checkpoint commits and counts the transactions it aborted on a
    failure, rewinding (wrapping ``Checkpoint.commit`` and ``Runner._abort``: a clock read per
    commit, nothing per record; the empty transaction a shutdown aborts is not counted)."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.aborts = 0
        commit, abort = Checkpoint.commit, Runner._abort

        def commit_(cp: Checkpoint, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return commit(cp, *args, **kwargs)
            finally:
                self.count += 1
                self.seconds += time.perf_counter() - started

        def abort_(runner: Runner, *args: Any, **kwargs: Any) -> None:
            self.aborts += 1
            abort(runner, *args, **kwargs)

        Checkpoint.commit = commit_  # type: ignore[method-assign]
        Runner._abort = abort_  # type: ignore[method-assign]

    def figures(self) -> dict[str, int]:
        # Integers: the driver keeps a child's non-float figures in the raw results.
        return {
            "commits": self.count,
            "commit_us_total": round(self.seconds * 1e6),
            "aborted_transactions": self.aborts,
        }


def main() -> None:
    # Warnings (an aborted transaction, a failed commit) explain a slow or odd run.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = load_config()
    settings = config["settings"]
    commits = Commits()
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
    emit(meter.result(**commits.figures()))


if __name__ == "__main__":
    main()
