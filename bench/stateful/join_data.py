"""The input of the enrichment workload (issue 12): a table of users and a stream of orders.

Users ``u000000``..: ``{"user_id", "tier", "country"}``; orders keyed by a user id, 10% of
them by an id the table does not have: ``{"order_id", "user_id", "amount", "timestamp"}``.
Both topics put a key in partition ``crc32(key) % P`` (co-partitioned). The enriched order is
the order plus ``"tier"`` (None when the user is unknown).

Standard library and orjson only.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import orjson

from bench.stateful.data import BASE, partition_of

TIERS = ("free", "pro", "team")
COUNTRIES = ("de", "fr", "nl", "pl", "se", "us", "br", "jp")
SEED = 20_261_129


def user_key(i: int) -> bytes:
    """The key of user ``i``."""
    return b"u%06d" % i


def users(n: int, partitions: int) -> Iterator[tuple[int, bytes, bytes]]:
    """(partition, key, JSON value) of the table's ``n`` rows."""
    rng = random.Random(SEED)
    for i in range(n):
        key = user_key(i)
        row = {"user_id": key.decode(), "tier": rng.choice(TIERS), "country": rng.choice(COUNTRIES)}
        yield partition_of(key, partitions), key, orjson.dumps(row)


def tier_of(n_users: int) -> dict[bytes, str]:
    """Each user's tier, as :func:`users` writes it."""
    return {key: orjson.loads(value)["tier"] for _, key, value in users(n_users, 1)}


def orders(n: int, n_users: int, partitions: int) -> Iterator[tuple[int, bytes, bytes, int]]:
    """(partition, key, JSON value, timestamp in the value) of ``n`` orders; 10% of unknown
    users. (The records are produced with their produce time as Kafka timestamp.)"""
    rng = random.Random(SEED + 1)
    unknown = n_users // 9  # 10% of the keys drawn lie past the table
    for i in range(n):
        key = user_key(rng.randrange(n_users + unknown))
        ts = BASE + i
        order = {
            "order_id": i,
            "user_id": key.decode(),
            "amount": rng.randrange(1, 500),
            "timestamp": ts,
        }
        yield partition_of(key, partitions), key, orjson.dumps(order), ts


AD_KEYS = 10_000
IMPRESSION_STEP_MS = 2
CLICK_SHARE = 0.7
CLICK_DELAY_MS = 5_000
JOIN_WINDOW_MS = 10_000
"""Records of the same ad at most 10 s apart join."""


def ad_key(i: int) -> bytes:
    """The key of ad ``i``."""
    return b"a%05d" % i


Sided = tuple[str, int, bytes, bytes, int]
"""(side, partition, key, JSON value, timestamp), side ``imp`` or ``click``."""


def ad_events(total: int, partitions: int, base: int) -> tuple[list[Sided], list[Sided]]:
    """About ``total`` records: impressions ``IMPRESSION_STEP_MS`` apart over 10,000 ads from
    ``base`` (epoch ms), 70% followed by a click 0-5 s later. Each side in time order (so each
    partition of each topic is in time order: nothing is ever late); the timestamps are the
    records' Kafka timestamps, so ``base`` must be recent: a broker deletes records older than
    the topic's ``retention.ms`` (7 days by default) by their timestamps, even mid-run."""
    rng = random.Random(SEED + 2)
    n_imp = round(total / (1 + CLICK_SHARE))
    imps: list[Sided] = []
    clicks: list[tuple[int, int, bytes]] = []
    for i in range(n_imp):
        key = ad_key(rng.randrange(AD_KEYS))
        ts = base + i * IMPRESSION_STEP_MS
        value = orjson.dumps({"id": i, "ad": key.decode(), "slot": rng.randrange(8)})
        imps.append(("imp", partition_of(key, partitions), key, value, ts))
        if rng.random() < CLICK_SHARE:
            clicks.append((ts + rng.randrange(CLICK_DELAY_MS + 1), i, key))
    clicks.sort()
    click_events = [
        (
            "click",
            partition_of(key, partitions),
            key,
            orjson.dumps({"id": j, "ad": key.decode()}),
            ts,
        )
        for j, (ts, _imp, key) in enumerate(clicks)
    ]
    return imps, click_events


def join_reference(imps: list[Sided], clicks: list[Sided]) -> set[tuple[int, int]]:
    """Every (impression id, click id) of the same ad at most ``JOIN_WINDOW_MS`` apart."""
    by_key: dict[bytes, list[tuple[int, int]]] = {}
    for _side, _p, key, value, ts in imps:
        by_key.setdefault(key, []).append((ts, orjson.loads(value)["id"]))
    pairs: set[tuple[int, int]] = set()
    for _side, _p, key, value, ts in clicks:
        click = orjson.loads(value)["id"]
        for t, imp in by_key.get(key, ()):
            if abs(t - ts) <= JOIN_WINDOW_MS:
                pairs.add((imp, click))
    return pairs
