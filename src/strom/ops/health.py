"""Liveness and readiness of a running application, updated by the runtime.

The processing loop tells a :class:`Health` what happens (started, partitions assigned,
restored, revoked, stopping, failed); the HTTP endpoint asks it :meth:`Health.liveness` and
:meth:`Health.readiness`. Every method is thread-safe: the loop and the server threads share it.

* **alive** (``/health`` 200) unless the application failed, or — when ``stall_timeout_ms`` is
  set — the loop has not called :meth:`Health.heartbeat` for that long;
* **ready** (``/ready`` 200) when the loop is running and every assigned partition is restored
  and processing. A member that holds no partition (more members than partitions) is ready.

Example:
    >>> from strom.log import TopicPartition
    >>> h = Health(clock=lambda: 0)
    >>> h.readiness().ready, h.readiness().reason["state"]
    (False, 'starting')
    >>> h.running()
    >>> h.assigned([TopicPartition("t", 0)])
    >>> h.readiness().reason["restoring"]
    ['t-0']
    >>> h.restored([TopicPartition("t", 0)])
    >>> h.readiness().ready
    True
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from strom.error_policies import Clock, system_clock_ms
from strom.log.types import TopicPartition


class State(Enum):
    """Life stages of an application."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Status:
    """An answer of :meth:`Health.liveness` or :meth:`Health.readiness`.

    Attributes:
        ready: for readiness, ready; for liveness, alive.
        reason: a JSON-able dict saying why (served as the response body).
    """

    ready: bool
    reason: dict[str, Any]


def _name(tp: TopicPartition) -> str:
    return f"{tp.topic}-{tp.partition}"


class Health:
    """Shared state behind ``/health`` and ``/ready``.

    Args:
        clock: epoch ms now (injected so tests control time).
        stall_timeout_ms: report not-alive when the loop's last heartbeat is older than this;
            None disables the check.
    """

    def __init__(
        self, *, clock: Clock = system_clock_ms, stall_timeout_ms: int | None = None
    ) -> None:
        self._clock = clock
        self._stall_timeout_ms = stall_timeout_ms
        self._lock = threading.Lock()
        self._state = State.STARTING
        self._error: str | None = None
        self._assigned: set[TopicPartition] = set()
        self._restoring: set[TopicPartition] = set()
        self._heartbeat = clock()

    @property
    def state(self) -> State:
        """The current life stage."""
        with self._lock:
            return self._state

    def running(self) -> None:
        """The processing loop started."""
        with self._lock:
            if self._state is State.STARTING:
                self._state = State.RUNNING
            self._heartbeat = self._clock()

    def heartbeat(self) -> None:
        """The loop is making progress (call once per loop iteration; it is cheap)."""
        self._heartbeat = self._clock()

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions were assigned; they count as restoring until :meth:`restored`."""
        with self._lock:
            new = set(partitions)
            self._assigned |= new
            self._restoring |= new

    def restored(self, partitions: Iterable[TopicPartition]) -> None:
        """These partitions' state is restored; they are processing."""
        with self._lock:
            self._restoring -= set(partitions)

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions were revoked or lost."""
        with self._lock:
            gone = set(partitions)
            self._assigned -= gone
            self._restoring -= gone

    def stopping(self) -> None:
        """Shutdown began (not ready any more; still alive)."""
        with self._lock:
            if self._state is not State.FAILED:
                self._state = State.STOPPING

    def stopped(self) -> None:
        """Shutdown finished cleanly."""
        with self._lock:
            if self._state is not State.FAILED:
                self._state = State.STOPPED

    def failed(self, error: BaseException | str) -> None:
        """The application stopped on an error (not alive, not ready)."""
        with self._lock:
            self._state = State.FAILED
            self._error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"

    def liveness(self) -> Status:
        """Alive unless failed or stalled."""
        now = self._clock()
        with self._lock:
            state, error = self._state, self._error
            since = now - self._heartbeat
        body: dict[str, Any] = {"alive": True, "state": state.value}
        if state is State.FAILED:
            return Status(False, {**body, "alive": False, "error": error})
        stall = self._stall_timeout_ms
        # STARTING too: a step blocked on the very first batch is a stall as well.
        if stall is not None and state in (State.STARTING, State.RUNNING) and since > stall:
            reason = f"the processing loop made no progress for {since} ms (limit {stall} ms)"
            return Status(False, {**body, "alive": False, "error": reason})
        return Status(True, body)

    def readiness(self) -> Status:
        """Ready when running and no assigned partition is still restoring."""
        with self._lock:
            state, error = self._state, self._error
            assigned = sorted(_name(tp) for tp in self._assigned)
            restoring = sorted(_name(tp) for tp in self._restoring)
        body: dict[str, Any] = {
            "ready": False,
            "state": state.value,
            "assigned": assigned,
            "restoring": restoring,
        }
        if state is not State.RUNNING:
            body["reason"] = f"the application is {state.value}"
            if error is not None:
                body["error"] = error
            return Status(False, body)
        if restoring:
            body["reason"] = f"{len(restoring)} of {len(assigned)} partitions are restoring"
            return Status(False, body)
        body["ready"] = True
        return Status(True, body)
