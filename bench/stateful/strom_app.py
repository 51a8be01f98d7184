"""The stateful workloads in strom, by ``mode``:

- ``windowed``: ``window(tumbling(5 min), timestamp=event time, grace=0).aggregate(count+sum)``
  with ``emit="final"``, to the output topic (values ``{"key", "start", "end", "value":
  {"count", "sum"}}``);
- ``kv-count``: ``stream.count(name=...)`` per key (a key-value store), its per-record
  results dropped by a filter (what is measured is the store);
- ``stateless``: the stateless workload's filter + map on the same input (the "state cost"
  denominator);
- ``enrich``: orders joined (left) with the table of users (``app.table``), the user's tier
  added; ``enrich-load`` is the same application over an empty order topic, run first to
  load the table; ``enrich-map``: the same output shape without the join (the stateless
  denominator of the enrichment);
- ``window-join``: impressions joined (inner) with clicks of the same ad within 10 s
  (``stream.join(other, joiner, window=strom.joins.within(...))``); ``window-join-map``: both
  topics mapped to the output without the join (the stateless denominator).

``backend``: ``rocksdb`` or ``memory`` (``App(state_backend=...)``). Shared producer settings,
commit interval and records per poll; the app stops itself (``app.stop()``) once the target is
consumed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import strom
import strom.serde
from bench.stateful.data import WINDOW_MS
from bench.stateful.join_data import JOIN_WINDOW_MS
from bench.stateful.mem import peak_rss_mib
from bench.workloads.common import (
    Meter,
    counting_enrich,
    counting_filter,
    emit,
    emit_ready,
    load_config,
)

WINDOW_STEP = "count-sum"
COUNT_STEP = "per-user"


def _init() -> list[int]:
    return [0, 0]


def _add(acc: list[int], event: dict[str, Any]) -> list[int]:
    acc[0] += 1
    acc[1] += event["amount"]
    return acc


def _result(acc: list[int]) -> dict[str, int]:
    return {"count": acc[0], "sum": acc[1]}


def _pair(imp: dict[str, Any], click: dict[str, Any]) -> dict[str, Any]:
    return {"impression": imp["id"], "click": click["id"]}


def _alone(value: dict[str, Any]) -> dict[str, Any]:
    return {"id": value["id"], "ad": value["ad"]}


def _never(_value: Any) -> bool:
    return False


def build(config: dict[str, Any], meter: Meter | None) -> strom.App:
    """The application of ``config["mode"]`` (also used, without a meter, by the restore
    script, which must build the same stores)."""
    settings = config["settings"]
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
        state_backend=config.get("backend", "rocksdb"),
        state_dir=config["state_dir"],
    )
    events = app.topic(config["input_topic"], key=strom.serde.string(), value=strom.serde.json())
    out = app.topic(config["output_topic"], key=strom.serde.string(), value=strom.serde.json())
    stream = app.stream(events)
    mode = config["mode"]
    tick = meter.tick if meter is not None else None

    if mode == "windowed":

        def event_time(event: dict[str, Any]) -> int:
            if tick is not None:
                tick()
            return event["timestamp"]  # type: ignore[no-any-return]

        (
            stream.window(
                strom.windows.tumbling(timedelta(milliseconds=WINDOW_MS)),
                timestamp=event_time,
                grace=0,
            )
            .aggregate(_init, _add, result=_result, name=WINDOW_STEP)
            .to(out)
        )
    elif mode == "kv-count":

        def counted(event: dict[str, Any]) -> bool:
            if tick is not None:
                tick()
            return True

        stream.filter(counted, name="meter").count(name=COUNT_STEP).filter(_never).to(out)
    elif mode in ("enrich", "enrich-load"):
        # One topology for both phases (same stores): "enrich-load" runs over an empty order
        # topic and stops once the table has taken every row; "enrich" is the measured run.
        users = app.topic(config["table_topic"], key=strom.serde.string(), value=strom.serde.json())
        table = app.table(users, name="users")
        loading = mode == "enrich-load"

        def table_row(_row: Any) -> bool:
            if loading and tick is not None:
                tick()
            return False

        table.to_stream().filter(table_row, name="table-rows").to(out)

        def enrich(order: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
            if not loading and tick is not None:
                tick()
            return {**order, "tier": None if user is None else user["tier"]}

        stream.join(table, enrich, how="left", name="enrich").to(out)
    elif mode in ("window-join", "window-join-map"):
        # input_topic holds the impressions, click_topic the clicks; the records' timestamps
        # are their event times.
        clicks_topic = app.topic(
            config["click_topic"], key=strom.serde.string(), value=strom.serde.json()
        )

        def counted(_value: Any) -> bool:
            if tick is not None:
                tick()
            return True

        imps = stream.filter(counted, name="count-impressions")
        clicks = app.stream(clicks_topic).filter(counted, name="count-clicks")
        if mode == "window-join":
            imps.join(
                clicks,
                _pair,
                window=strom.joins.within(timedelta(milliseconds=JOIN_WINDOW_MS)),
                name="imp-click",
            ).to(out)
        else:
            imps.map(_alone, name="impression-out").to(out)
            clicks.map(_alone, name="click-out").to(out)
    elif mode == "enrich-map":

        def no_user(order: dict[str, Any]) -> dict[str, Any]:
            if tick is not None:
                tick()
            return {**order, "tier": None}

        stream.map(no_user, name="no-join").to(out)
    elif mode == "stateless":
        assert meter is not None
        stream.filter(counting_filter(meter), name="logins").map(
            counting_enrich(meter), name="enrich"
        ).to(out)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    return app


def main() -> None:
    config = load_config()
    app: strom.App | None = None

    def done() -> None:
        assert app is not None
        app.stop()

    meter = Meter(int(config["records"]), on_done=done)
    app = build(config, meter)
    emit_ready()
    app.run()
    meter.stop()
    emit(meter.result(peak_rss_mib=peak_rss_mib()))


if __name__ == "__main__":
    main()
