"""What every implementation script shares: configuration, the work itself, the meter.

Imported by scripts running in the project's .venv and in the peers' virtualenvs, so it uses
the standard library and orjson only (every benchmark venv has orjson: it is the shared JSON
codec).

The measured window, the same for every implementation:

* it opens when the first input record reaches the implementation's code (the counting
  filter, or the hand-written loop right after its first non-empty poll);
* it closes when the implementation's run call has returned after consuming the target number
  of records, which includes its final producer flush (every output acknowledged, acks=all)
  and its final offset commit, and closing its clients.

Throughput is records consumed / window; CPU is the process's user+system time (all threads)
in the same window.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "
READY_PREFIX = "BENCH_READY"

LOGIN = "login"


def load_config() -> dict[str, Any]:
    """The JSON configuration the runner passed as ``argv[1]``."""
    if len(sys.argv) < 2:
        raise SystemExit(f"usage: python -m {__spec__.name if __spec__ else 'SCRIPT'} CONFIG_JSON")
    config: dict[str, Any] = json.loads(sys.argv[1])
    return config


def is_login(event: dict[str, Any]) -> bool:
    """The filter of the stateless workload: keep login events (~40% of the input)."""
    return bool(event["action"] == LOGIN)


def enrich(event: dict[str, Any]) -> dict[str, Any]:
    """The map of the stateless workload: a new dict with one derived field."""
    return {**event, "login_hour": (event["timestamp"] // 3_600_000) % 24}


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Counts input records and times the measured window (see the module docstring).

    Args:
        target: records to consume before ``on_done`` is called.
        on_done: called once, from the counting call that reaches ``target``.
    """

    def __init__(self, target: int, on_done: Callable[[], None] | None = None) -> None:
        self.target = target
        self.count = 0
        self.produced = 0
        self.on_done = on_done
        self.t_first: float | None = None
        self.cpu_first = 0.0
        self.t_last_record: float | None = None
        self.t_end: float | None = None
        self.cpu_end = 0.0

    def start(self) -> None:
        """Open the window (idempotent)."""
        if self.t_first is None:
            self.t_first = time.perf_counter()
            self.cpu_first = cpu_seconds()

    def tick(self, n: int = 1) -> None:
        """Count ``n`` consumed records."""
        if self.t_first is None:
            self.start()
        self.count += n
        if self.count >= self.target and self.t_last_record is None:
            self.t_last_record = time.perf_counter()
            if self.on_done is not None:
                self.on_done()

    @property
    def done(self) -> bool:
        """True once ``target`` records were counted."""
        return self.count >= self.target

    def stop(self) -> None:
        """Close the window: call right after the implementation's run call returned."""
        self.t_end = time.perf_counter()
        self.cpu_end = cpu_seconds()

    def result(self, **extra: Any) -> dict[str, Any]:
        """The figures of the window, plus ``extra``."""
        if self.t_end is None:
            self.stop()
        assert self.t_end is not None
        first = self.t_first if self.t_first is not None else self.t_end
        elapsed = max(self.t_end - first, 1e-9)
        last = self.t_last_record if self.t_last_record is not None else self.t_end
        out: dict[str, Any] = {
            "consumed": self.count,
            "produced": self.produced,
            "elapsed_s": elapsed,
            "process_s": last - first,
            "records_per_s": self.count / elapsed,
            "cpu_s": self.cpu_end - self.cpu_first,
        }
        out.update(extra)
        return out


def counting_filter(meter: Meter) -> Callable[[dict[str, Any]], bool]:
    """:func:`is_login` that also counts the record: for frameworks that own the loop."""
    tick = meter.tick

    def keep(event: dict[str, Any]) -> bool:
        tick()
        return bool(event["action"] == LOGIN)

    return keep


def counting_enrich(meter: Meter) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """:func:`enrich` that also counts the output."""

    def mapped(event: dict[str, Any]) -> dict[str, Any]:
        meter.produced += 1
        return {**event, "login_hour": (event["timestamp"] // 3_600_000) % 24}

    return mapped


def consume_available(consumer: Any, batch: int, timeout: float) -> list[Any]:
    """Up to ``batch`` messages from a confluent-kafka consumer without waiting for a full batch.

    ``Consumer.consume(n, timeout)`` blocks until ``n`` messages arrived or ``timeout`` ran
    out, which adds up to ``timeout`` of latency under light load. This takes what is ready;
    only when nothing is, it waits up to ``timeout`` for one message and takes what followed.
    """
    msgs: list[Any] = consumer.consume(batch, 0)
    if msgs:
        return msgs
    first = consumer.poll(timeout)
    if first is None:
        return []
    return [first, *consumer.consume(batch - 1, 0)]


def producer_config(config: dict[str, Any]) -> dict[str, Any]:
    """librdkafka producer settings shared by every implementation on Kafka."""
    settings = config["settings"]
    return {
        "bootstrap.servers": config["bootstrap"],
        "acks": settings["acks"],
        "enable.idempotence": settings["idempotence"],
        "linger.ms": settings["linger_ms"],
        "compression.type": settings["compression"],
    }


def consumer_config(config: dict[str, Any], group: str | None = None) -> dict[str, Any]:
    """librdkafka consumer settings shared by every implementation on Kafka."""
    out: dict[str, Any] = {
        "bootstrap.servers": config["bootstrap"],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    if group is not None:
        out["group.id"] = group
    return out


def emit(result: dict[str, Any]) -> None:
    """Print the result line the runner parses."""
    result.setdefault("pid", os.getpid())
    print("\n" + RESULT_PREFIX + json.dumps(result), flush=True)


def emit_ready() -> None:
    """Tell the runner the implementation is about to consume."""
    print(READY_PREFIX, flush=True)
