"""Whether the Kafka broker can be reached: fail fast, with the address, instead of hanging.

librdkafka retries connections forever and reports failures only through ``error_cb``.
A consumer serves that callback only while consuming, so reachability is checked once per log
by a small probe client whose callbacks can be served at any time. Until the log has reached
a broker once, every call that needs the broker first asks :meth:`Reachability.ensure`, which
raises :class:`~strom.errors.BrokerUnavailableError` as soon as librdkafka reports the
connection failed (refused, unresolvable, timed out) and at the latest after the call's
timeout. Once reached, later outages surface as the timeouts of the calls themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from strom.errors import BrokerUnavailableError
from strom.log.kafka.config import create_client, with_error_cb
from strom.log.kafka.errors import AUTHENTICATION, UNREACHABLE, kafka_error, translate

logger = logging.getLogger("strom.log.kafka")

_STEP = 0.25


class ClientErrors:
    """The errors a client's ``error_cb`` (and its consumed error events) reported: the last
    connection failure, any fatal error (after which the client is unusable), and a count of
    the errors it survived, by librdkafka error name (see :func:`~strom.log.kafka.errors.
    survivable`). Each kind of survived error is logged once at WARNING, then at DEBUG."""

    def __init__(self, bootstrap: str, what: str) -> None:
        self.bootstrap = bootstrap
        self.what = what
        self.down: KafkaError | None = None
        self.fatal: KafkaError | None = None
        self.survived: dict[str, int] = {}
        self._lock = threading.Lock()

    def on_error(self, err: KafkaError) -> None:
        """The ``error_cb``: remember what matters, log the rest."""
        if err.fatal():
            self.fatal = err
            logger.error("fatal error in Kafka %s: %s", self.what, err.str())
        elif err.code() in UNREACHABLE or err.code() in AUTHENTICATION:
            self.down = err
            self.count(err, "")
        else:
            self.count(err, "")

    def count(self, err: KafkaError, where: str) -> None:
        """Count (and log, once per kind) an error the client goes on after."""
        name = err.name()
        with self._lock:
            seen = self.survived.get(name, 0)
            self.survived[name] = seen + 1
        level = logging.DEBUG if seen else logging.WARNING
        logger.log(
            level,
            "Kafka %s at %s: %s%s (librdkafka retries; further %s errors are logged at DEBUG)",
            self.what,
            self.bootstrap,
            err.str(),
            where,
            name,
        )

    def raise_fatal(self, action: str) -> None:
        """Raise the fatal error reported for this client, if any."""
        if self.fatal is not None:
            raise translate(self.fatal, action, bootstrap=self.bootstrap)


class Reachability:
    """Once per log: has a broker answered? Fails fast, naming the address, if none can."""

    def __init__(self, bootstrap: str, config: dict[str, Any]) -> None:
        self._bootstrap = bootstrap
        self._config = config
        self._lock = threading.Lock()
        self.reached = False

    def mark_reached(self) -> None:
        """Record that a broker answered (any client of the log may say so)."""
        self.reached = True

    def ensure(self, action: str, timeout: float) -> None:
        """Return once a broker answered; raise BrokerUnavailableError if none can.

        Args:
            action: what the caller is about to do, named in the error.
            timeout: seconds to wait at most for an answer.
        """
        if self.reached:
            return
        with self._lock:
            if self.reached:
                return
            self._probe(action, timeout)

    def _probe(self, action: str, timeout: float) -> None:
        errors = ClientErrors(self._bootstrap, "connection probe")
        probe = create_client(
            AdminClient, with_error_cb(self._config, errors.on_error), "admin client"
        )
        deadline = time.monotonic() + max(timeout, 0.0)
        last: BaseException | None = None
        while True:
            step = max(min(_STEP, deadline - time.monotonic()), 0.05)
            try:
                probe.list_topics(timeout=step)
            except KafkaException as exc:
                last = exc
            else:
                self.reached = True
                return
            probe.poll(0)  # serves error_cb
            if errors.down is not None:
                raise translate(errors.down, action, bootstrap=self._bootstrap)
            if time.monotonic() >= deadline:
                err = kafka_error(last) if last is not None else None
                detail = err.str() if err is not None else str(last)
                raise BrokerUnavailableError(
                    f"{action} failed: no answer from the Kafka broker at {self._bootstrap} "
                    f"within {timeout:g} s ({detail}); check the address and that the broker "
                    "is running"
                )
