"""The windowed stream-stream join in Quix Streams (runs in the ``quix`` peer venv):
``impressions.join_interval(clicks, how="inner", backward_ms=10 s, forward_ms=10 s)``, the
records' Kafka timestamps as event times (each topic's ``timestamp_extractor`` also counts
the record). Quix expires stored records per key relative to the newest record of that key;
its grace is left at the default (7 days), which keeps every record of this run: a shorter
one could expire impressions before clicks read later from the other topic arrive.
"""

from __future__ import annotations

import logging
from typing import Any

from quixstreams import Application

from bench.stateful.join_data import JOIN_WINDOW_MS
from bench.stateful.mem import peak_rss_mib
from bench.workloads.common import Meter, emit, emit_ready, load_config, producer_config


def main() -> None:
    config = load_config()
    settings = config["settings"]
    app: Application | None = None

    def done() -> None:
        assert app is not None
        app.stop()

    meter = Meter(int(config["records"]), on_done=done)
    tick = meter.tick
    producer_extra = {k: v for k, v in producer_config(config).items() if k != "bootstrap.servers"}
    app = Application(
        broker_address=config["bootstrap"],
        consumer_group=config["group"],
        auto_offset_reset="earliest",
        commit_interval=float(settings["commit_interval_s"]),
        producer_extra_config=producer_extra,
        processing_guarantee="at-least-once",
        state_dir=config["state_dir"],
        loglevel=logging.WARNING,
    )

    def counted(_value: Any, _headers: Any, timestamp: float, _type: Any) -> int:
        tick()
        return int(timestamp)

    def topic(name: str) -> Any:
        return app.topic(
            name, key_deserializer="bytes", value_deserializer="json", timestamp_extractor=counted
        )

    sink = app.topic(config["output_topic"], key_serializer="bytes", value_serializer="json")
    imps = app.dataframe(topic(config["input_topic"]))
    clicks = app.dataframe(topic(config["click_topic"]))
    joined = imps.join_interval(
        clicks,
        how="inner",
        on_merge=lambda imp, click: {"impression": imp["id"], "click": click["id"]},
        backward_ms=JOIN_WINDOW_MS,
        forward_ms=JOIN_WINDOW_MS,
    )
    joined.to_topic(sink)
    emit_ready()
    app.run()
    meter.stop()
    emit(meter.result(peer_version=_version(), peak_rss_mib=peak_rss_mib()))


def _version() -> str:
    from importlib.metadata import version

    return version("quixstreams")


if __name__ == "__main__":
    main()
