"""Catch-up subscriptions: read the global order from a position, then follow it live.

A subscription reads ``read_all`` pages until it reaches the end, then waits for new events
through the store's ``wait`` (PostgreSQL: LISTEN/NOTIFY with a bounded fallback poll;
SQLite: polling at a bounded interval). A named subscription keeps a durable checkpoint in the
store: :meth:`Subscription.commit` records the last processed position, and a new subscription
of the same name resumes after it.

Example:
    >>> import strom.es as es
    >>> store = es.connect("sqlite://:memory:")
    >>> _ = store.append("order-1", [es.NewEvent("Placed", b"{}")])
    >>> sub = store.subscribe("mailer")
    >>> [e.type for e in sub.poll(timeout=0.1)]
    ['Placed']
    >>> sub.commit()
    >>> _ = store.append("order-1", [es.NewEvent("Paid", b"{}")])
    >>> [e.type for e in store.subscribe("mailer").poll(timeout=0.1)]
    ['Paid']
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from strom.es.errors import InvalidEventError
from strom.es.store import EventStore
from strom.es.types import RecordedEvent


class Subscription:
    """Events of the global order from a position on, catch-up then live.

    Args:
        store: the event store.
        name: the subscriber's name for its durable checkpoint; None for an anonymous one.
        from_position: the first position to deliver; default: after the checkpoint.
    """

    def __init__(
        self, store: EventStore, name: str | None = None, *, from_position: int | None = None
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise InvalidEventError(f"subscription name must be a non-empty string, got {name!r}")
        if from_position is None:
            from_position = (store.get_checkpoint(name) if name else 0) + 1
        if (
            isinstance(from_position, bool)
            or not isinstance(from_position, int)
            or from_position < 1
        ):
            raise InvalidEventError(f"from_position must be an int >= 1, got {from_position!r}")
        self.store = store
        self.name = name
        self._next = from_position
        self._stopped = threading.Event()

    @property
    def position(self) -> int:
        """The position of the last event delivered (``from_position - 1`` before any)."""
        return self._next - 1

    def poll(self, max_events: int = 500, timeout: float = 1.0) -> list[RecordedEvent]:
        """Up to ``max_events`` next events, waiting at most ``timeout`` seconds for the
        first; empty when none came (or the subscription was stopped)."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            batch = self.store.read_all(self._next, limit=max_events)
            if batch:
                self._next = batch[-1].position + 1
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopped.is_set():
                return []
            self.store.wait(self._next - 1, min(remaining, 1.0))

    def commit(self, position: int | None = None) -> None:
        """Store the checkpoint durably: ``position``, or the last event delivered."""
        if self.name is None:
            raise InvalidEventError("an anonymous subscription has no checkpoint to commit")
        self.store.set_checkpoint(self.name, self.position if position is None else position)

    def stop(self) -> None:
        """Make a blocked :meth:`poll` (and iteration) return soon; thread-safe."""
        self._stopped.set()

    def __iter__(self) -> Iterator[RecordedEvent]:
        """Events one by one until :meth:`stop` is called (checking every second)."""
        while not self._stopped.is_set():
            yield from self.poll(timeout=1.0)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
