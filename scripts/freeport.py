"""A free loopback port for a service the scripts start (standard library only).

Ports are drawn below Linux's ephemeral range (32768-60999): ``bind(0)`` hands out a port
from that range, which outgoing connections draw from too, so a client could take it
before the service binds it. A port below the range is only ever taken on purpose.
"""

from __future__ import annotations

import random
import socket


def free_port(low: int = 20000, high: int = 32768) -> int:
    """A loopback port in ``[low, high)`` nothing listens on now (``bind(0)`` as a fallback)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
