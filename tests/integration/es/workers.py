"""Processes for the event store's concurrency tests: writers and a gap-checking reader.

Run through ``multiprocessing`` (spawn), each with its own store connection, like separate
application processes. Results go back through a queue.
"""

from __future__ import annotations

import time
from typing import Any

import strom.es as es
from strom.es.errors import ConcurrencyError


def open_store(url: str, schema: str | None) -> es.EventStore:
    return es.connect(url, schema=schema) if schema else es.connect(url)


def writer(url: str, schema: str | None, wid: int, appends: int, barrier: Any, out: Any) -> None:
    """First races every other writer to create the stream ``race`` (all expecting no
    stream, released together by ``barrier``: exactly one may win). Then alternates appends to
    its own stream (exact expected version, never conflicts) and to a shared stream (read the
    version, append expecting it, retry on conflict). Reports every successful append as
    (stream, version, event id)."""
    store = open_store(url, schema)
    done: list[tuple[str, int, str]] = []
    conflicts = 0
    own = f"own-{wid}"
    try:
        barrier.wait(timeout=60)
        try:
            store.append("race", [es.NewEvent("Won", b"{}")], es.NO_STREAM)
            won = True
        except ConcurrencyError:
            won = False
        for i in range(appends):
            if i % 2 == 0:
                event = es.NewEvent("Own", f'{{"w":{wid},"i":{i}}}'.encode())
                result = store.append(own, [event], i // 2)
                done.append((own, result.version, str(event.id)))
                continue
            while True:
                event = es.NewEvent("Shared", f'{{"w":{wid},"i":{i}}}'.encode())
                version = store.stream_version("shared")
                try:
                    result = store.append("shared", [event], version)
                except ConcurrencyError:
                    conflicts += 1
                    continue
                done.append(("shared", result.version, str(event.id)))
                break
    finally:
        store.close()
    out.put({"wid": wid, "done": done, "conflicts": conflicts, "won": won})


def reader(url: str, schema: str | None, stop: Any, out: Any) -> None:
    """Follows ``read_all`` while writers run, as a checkpointing subscriber would: from the
    position after the last one it got. Records every position in delivery order."""
    store = open_store(url, schema)
    seen: list[int] = []
    batches = 0
    try:
        position = 1
        while True:
            stopping = stop.is_set()
            batch = store.read_all(position, limit=200)
            if batch:
                batches += 1
                seen.extend(e.position for e in batch)
                position = batch[-1].position + 1
            elif stopping:
                break
            else:
                time.sleep(0.001)
    finally:
        store.close()
    out.put({"seen": seen, "batches": batches})
