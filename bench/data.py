"""The input events: deterministic, shaped like the seed's user events.

``{"user_id": "u123", "action": "login", "timestamp": 1700000000000, "payload": "..."}``,
keyed by user id. About 40% are logins, so the stateless filter keeps ~2/5.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator

import orjson

ACTIONS = ("login", "view", "logout", "purchase")
WEIGHTS = (0.4, 0.3, 0.2, 0.1)
USERS = 10_000
BASE_TS = 1_700_000_000_000
PAYLOAD_BYTES = 64
SEED = 20_240_601


def actions(n: int, seed: int = SEED) -> list[str]:
    """The action of each of the first ``n`` events of the stream for ``seed``."""
    rng = random.Random(seed)
    return rng.choices(ACTIONS, WEIGHTS, k=n)


def events(
    n: int, seed: int = SEED, payload_bytes: int = PAYLOAD_BYTES
) -> Iterator[tuple[bytes, dict[str, object]]]:
    """(key, event) for ``n`` events; the same ``seed`` gives the same stream."""
    rng = random.Random(seed + 1)
    alphabet = string.ascii_letters + string.digits
    payloads = ["".join(rng.choices(alphabet, k=payload_bytes)) for _ in range(64)]
    for i, action in enumerate(actions(n, seed)):
        user = f"u{rng.randrange(USERS)}"
        yield (
            user.encode(),
            {
                "user_id": user,
                "action": action,
                "timestamp": BASE_TS + i * 10,
                "payload": payloads[i & 63],
            },
        )


def encoded(n: int, seed: int = SEED) -> Iterator[tuple[bytes, bytes]]:
    """(key, JSON value) for ``n`` events."""
    dumps = orjson.dumps
    for key, event in events(n, seed):
        yield key, dumps(event)


def login_count(acts: list[str]) -> int:
    """How many of ``acts`` the stateless filter keeps."""
    return sum(1 for a in acts if a == "login")
