"""The input of the windowed workload, and the reference result every implementation must
produce.

Events ``{"user_id", "action", "amount", "timestamp", "payload"}`` keyed by user id (10,000
keys), the event time in the value: ``BASE + i * STEP_MS`` for event ``i``, so each partition's
event times only grow (no late records). Each event goes to partition ``crc32(key) % P``. The
last ``P`` events (one per partition, the first key of that partition) are ``STEP_MS`` past
the end of the last full window: they close it in every partition, and open a window that
stays open (not emitted by anyone).

Standard library and orjson only.
"""

from __future__ import annotations

import random
import string
import zlib
from collections.abc import Iterator

import orjson

KEYS = 10_000
WINDOW_MS = 300_000
"""Tumbling windows of 5 minutes."""
STEP_MS = 5
"""Event time advances 5 ms per event: 60,000 events per window, ~6 per key and window."""
BASE = 1_700_000_100_000
"""A multiple of WINDOW_MS: the first event opens a window."""
ACTIONS = ("login", "view", "logout", "purchase")
WEIGHTS = (0.4, 0.3, 0.2, 0.1)
PAYLOAD_BYTES = 64
SEED = 20_261_128

Event = tuple[int, bytes, dict[str, object]]
"""(partition, key, value)."""


def partition_of(key: bytes, partitions: int) -> int:
    """The partition every implementation finds ``key`` in."""
    return zlib.crc32(key) % partitions


def events(n: int, partitions: int, seed: int = SEED) -> Iterator[Event]:
    """The ``n`` input events, in production order."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    payloads = ["".join(rng.choices(alphabet, k=PAYLOAD_BYTES)) for _ in range(64)]
    closers = _closer_keys(partitions)
    regular = n - len(closers)
    for i in range(regular):
        key = f"u{rng.randrange(KEYS)}".encode()
        yield (
            partition_of(key, partitions),
            key,
            {
                "user_id": key.decode(),
                "action": rng.choices(ACTIONS, WEIGHTS)[0],
                "amount": rng.randrange(1, 101),
                "timestamp": BASE + i * STEP_MS,
                "payload": payloads[i & 63],
            },
        )
    last_end = _window_end(BASE + (regular - 1) * STEP_MS)
    for p, key in enumerate(closers):
        yield (
            p,
            key,
            {
                "user_id": key.decode(),
                "action": "view",
                "amount": 1,
                "timestamp": last_end + STEP_MS,
                "payload": payloads[p & 63],
            },
        )


def encoded(n: int, partitions: int) -> Iterator[tuple[int, bytes, bytes]]:
    """(partition, key, JSON value) of the input events."""
    dumps = orjson.dumps
    for p, key, value in events(n, partitions):
        yield p, key, dumps(value)


def _window_end(ts: int) -> int:
    return ts - ts % WINDOW_MS + WINDOW_MS


def _closer_keys(partitions: int) -> list[bytes]:
    out: list[bytes | None] = [None] * partitions
    for k in range(KEYS):
        key = f"u{k}".encode()
        p = partition_of(key, partitions)
        if out[p] is None:
            out[p] = key
        if all(out):
            break
    if not all(out):
        raise ValueError(f"{KEYS} keys do not cover {partitions} partitions")
    return [k for k in out if k is not None]


Windows = dict[tuple[str, int, int], tuple[int, int]]
"""(key, start, end) -> (count, sum)."""


def reference(n: int, partitions: int) -> tuple[Windows, int, int]:
    """The final results of every window that closes (computed per partition with the
    watermark = the largest event time seen, grace 0), the number of logins (the stateless
    pipeline's output count) and the number of distinct keys."""
    open_: dict[int, dict[int, dict[str, list[int]]]] = {}
    marks: dict[int, int] = {}
    out: Windows = {}
    logins = 0
    keys: set[bytes] = set()
    for p, key, value in events(n, partitions):
        keys.add(key)
        ts = int(value["timestamp"])  # type: ignore[call-overload]
        logins += value["action"] == "login"
        end = ts - ts % WINDOW_MS + WINDOW_MS
        mark = marks.get(p, -(2**63))
        if end <= mark:
            raise AssertionError("the generator made a late record")
        windows = open_.setdefault(p, {})
        acc = windows.setdefault(end, {}).setdefault(key.decode(), [0, 0])
        acc[0] += 1
        acc[1] += int(value["amount"])  # type: ignore[call-overload]
        if ts > mark:
            marks[p] = ts
            for closed in [e for e in windows if e <= ts]:
                for k, (count, total) in windows.pop(closed).items():
                    out[(k, closed - WINDOW_MS, closed)] = (count, total)
    return out, logins, len(keys)
