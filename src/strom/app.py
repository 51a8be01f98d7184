"""The application: a name, a log, topics, pipelines, and the loop that runs them.

Example:
    >>> import strom
    >>> from datetime import timedelta
    >>> app = strom.App("login-stats", guarantee="at-least-once",
    ...                 commit_interval=timedelta(seconds=1))
    >>> events = app.topic("events", key=strom.serde.string(), value=strom.serde.json())
    >>> out = app.topic("logins", value=strom.serde.json(), partitions=3)
    >>> (app.stream(events)
    ...     .filter(lambda e: e["action"] == "login", name="logins")
    ...     .key_by(lambda e: e["user_id"], name="by-user")
    ...     .to(out))
    >>> app.name, app.guarantee
    ('login-stats', 'at-least-once')
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

from strom.dsl.graph import Graph, Stateful
from strom.dsl.names import validate_name
from strom.dsl.stream import Stream
from strom.dsl.topic import Topic

if TYPE_CHECKING:
    from strom.dsl.table import GlobalTable, Table
    from strom.runtime.queries import StoreView
from strom.error_policies import ErrorPolicy
from strom.errors import ConfigError, StromError
from strom.log import choose_url, connect, mask_url, parse_url
from strom.log.protocols import Log
from strom.runtime.checkpoint import Guarantee
from strom.runtime.runner import Runner, Settings
from strom.serde.base import Serde
from strom.serde.json_serde import json as json_serde
from strom.serde.primitives import string as string_serde

log = logging.getLogger("strom.app")

_GUARANTEES = ("at-least-once", "at-most-once", "exactly-once")
_RESETS = ("earliest", "latest", "error")
# Shared defaults: topics declared without serdes share these objects, so the runtime can see
# that their bytes need no re-encoding between them.
_DEFAULT_KEY: Serde[Any] = string_serde()
_DEFAULT_VALUE: Serde[Any] = json_serde()


def _seconds(value: timedelta | float | int, what: str) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigError(f"{what} must be a timedelta or seconds, got {value!r}")
    if seconds <= 0:
        raise ConfigError(f"{what} must be positive, got {value!r}")
    return seconds


class App:
    """A stream processing application.

    The name identifies the application on the log: it is the consumer group id (processes
    with the same name share the partitions) and the prefix of its internal topics.

    Args:
        name: ASCII letters, digits, ``.``, ``_``, ``-``.
        broker: ``local://PATH`` or ``kafka://host:port[,host:port]``. One rule picks the
            log, for the API and the CLI alike (:func:`strom.log.choose_url`):
            ``run(broker=)`` / ``strom run --broker`` > ``$STROM_BROKER`` > this ``broker``
            > ``local://$STROM_HOME`` > ``local://./.strom``.
        guarantee: ``"at-least-once"`` (default: outputs acknowledged before offsets are
            committed; a crash may repeat records), ``"at-most-once"`` (offsets committed
            before processing; a crash may lose records) or ``"exactly-once"`` (outputs,
            state changes, dead letters and input offsets committed in one transaction of
            the log; read the outputs with read_committed consumers).
        commit_interval: time between checkpoints.
        shutdown_timeout: how long a graceful shutdown may take before the process exits.
        batch_size: most records processed per poll.
        auto_offset_reset: where partitions without committed offsets start
            (``"earliest"``, ``"latest"`` or ``"error"``).
        consumer_options: backend consumer settings (librdkafka names on Kafka, such as
            ``session.timeout.ms``).
        producer_options: backend producer settings (``linger.ms``, ``compression.type``...).
        on_error: what a step does when it fails on a record, unless the step says otherwise
            with its own ``on_error=``: :func:`strom.errors.fail` (default),
            :func:`~strom.errors.skip`, :func:`~strom.errors.dead_letter`,
            :func:`~strom.errors.retry`.
        on_deserialization_error: what to do with an input record whose value cannot be
            decoded. Default: ``on_error``, so an app-wide ``dead_letter``/``skip`` covers
            undecodable input too (the steps' own ``on_error=`` do not: decoding happens
            before the first step). A ``deserialize:TOPIC`` step policy overrides both.
        metrics_port: serve ``/metrics``, ``/health`` and ``/ready`` over HTTP on this port
            (0 picks a free one); None (default) serves nothing.
        metrics_host: the interface the endpoint binds (only this machine by default).
        lag_interval: time between two samples of the consumer lag per partition
            (``strom_consumer_lag``); each asks the log for the partitions' end offsets.
        step_timing: time every step's work into ``strom_step_processing_seconds`` (one call
            in 8 is timed, which costs about 60 ns per record per step); default: on when
            ``metrics_port`` is set.
        stall_timeout: ``/health`` answers 503 when the processing loop has not come back to
            poll for this long (a step or sink blocked); default 5 minutes.
        transaction_timeout: exactly-once: how long a transaction may stay open before the
            broker aborts it (default 10 s).
        num_standby_replicas: how many other processes of the application keep a warm copy
            of each stateful task's stores by following its changelog, so that when a task
            moves to one of them it restores only the changelog's tail (default 0).
        state_backend: where stateful steps (aggregations, windows, joins) keep their state:
            ``"rocksdb"`` (default; on disk, so a restart restores only the changelog's tail)
            or ``"memory"`` (faster; restored in full from the changelog on start).
        state_dir: the directory of the RocksDB stores (default ``./.strom-state``).
        idle_timeout: when a stateful task's inputs have all been quiet this long, its event
            time follows the wall clock so that windows still close (default: off, event time
            moves only with records).
    """

    def __init__(
        self,
        name: str,
        *,
        broker: str | None = None,
        guarantee: str = "at-least-once",
        commit_interval: timedelta | float = timedelta(seconds=1),
        shutdown_timeout: timedelta | float = timedelta(seconds=30),
        batch_size: int = 1000,
        auto_offset_reset: str = "earliest",
        consumer_options: Mapping[str, Any] | None = None,
        producer_options: Mapping[str, Any] | None = None,
        on_error: ErrorPolicy | None = None,
        on_deserialization_error: ErrorPolicy | None = None,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        lag_interval: timedelta | float = timedelta(seconds=10),
        step_timing: bool | None = None,
        stall_timeout: timedelta | float = timedelta(minutes=5),
        transaction_timeout: timedelta | float = timedelta(seconds=10),
        num_standby_replicas: int = 0,
        state_backend: str = "rocksdb",
        state_dir: str | os.PathLike[str] = ".strom-state",
        idle_timeout: timedelta | float | None = None,
    ) -> None:
        validate_name(name, "application")
        for what, policy in (
            ("on_error", on_error),
            ("on_deserialization_error", on_deserialization_error),
        ):
            if policy is not None and not isinstance(policy, ErrorPolicy):
                raise ConfigError(
                    f"{what}= must be an error policy such as strom.errors.skip(), got {policy!r}"
                )
        if metrics_port is not None and (
            not isinstance(metrics_port, int) or not 0 <= metrics_port < 65536
        ):
            raise ConfigError(f"metrics_port must be a port number 0..65535, got {metrics_port!r}")
        if guarantee not in _GUARANTEES:
            raise ConfigError(
                f"guarantee {guarantee!r} is unknown: use 'at-least-once', 'at-most-once' or "
                "'exactly-once'"
            )
        if auto_offset_reset not in _RESETS:
            raise ConfigError(
                f"auto_offset_reset {auto_offset_reset!r} is unknown: use one of {_RESETS}"
            )
        if (
            not isinstance(num_standby_replicas, int)
            or isinstance(num_standby_replicas, bool)
            or num_standby_replicas < 0
        ):
            raise ConfigError(
                f"num_standby_replicas must be an int >= 0, got {num_standby_replicas!r}"
            )
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
        if step_timing is not None and not isinstance(step_timing, bool):
            raise ConfigError(f"step_timing must be True, False or None, got {step_timing!r}")
        if broker is not None:
            parse_url(broker)  # fail now, not at run()
        self._configured_broker = broker
        parse_url(self.broker)  # $STROM_BROKER too
        self._settings = Settings(
            name=name,
            guarantee=guarantee,  # type: ignore[arg-type]  # checked above
            commit_interval=_seconds(commit_interval, "commit_interval"),
            shutdown_timeout=_seconds(shutdown_timeout, "shutdown_timeout"),
            batch_size=batch_size,
            auto_offset_reset=auto_offset_reset,  # type: ignore[arg-type]  # checked above
            consumer_options=dict(consumer_options or {}),
            producer_options=dict(producer_options or {}),
            on_error=on_error,
            on_deserialization_error=on_deserialization_error,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            lag_interval=_seconds(lag_interval, "lag_interval"),
            step_timing=step_timing,
            stall_timeout=_seconds(stall_timeout, "stall_timeout"),
            transaction_timeout=_seconds(transaction_timeout, "transaction_timeout"),
            num_standby_replicas=num_standby_replicas,
            state_backend=state_backend,
            state_dir=os.fspath(state_dir),
            idle_timeout=None if idle_timeout is None else _seconds(idle_timeout, "idle_timeout"),
        )
        self._graph = Graph(name)
        self._runner: Runner | None = None
        self._stop_requested = False

    @property
    def name(self) -> str:
        """The application name (consumer group id, internal topic prefix)."""
        return self._settings.name

    @property
    def broker(self) -> str:
        """The URL of the log :meth:`run` uses: ``$STROM_BROKER`` when set, else the ``broker``
        given, else the default (see :func:`strom.log.choose_url`)."""
        return choose_url(None, self._configured_broker)[0]

    @property
    def guarantee(self) -> Guarantee:
        """The delivery guarantee."""
        return self._settings.guarantee

    @property
    def settings(self) -> Settings:
        """Every run setting, resolved."""
        return self._settings

    @property
    def graph(self) -> Graph:
        """The operator graph built so far."""
        return self._graph

    @property
    def topics(self) -> Mapping[str, Topic]:
        """The declared topics by name."""
        return dict(self._graph.topics)

    def topic(
        self,
        name: str,
        *,
        key: Serde[Any] | None = None,
        value: Serde[Any] | None = None,
        partitions: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> Topic:
        """Declare a topic the application reads or writes.

        Args:
            name: the topic's name.
            key: serde of keys (default: UTF-8 strings).
            value: serde of values (default: JSON).
            partitions: create the topic with this many partitions if it is missing (default:
                a missing topic is an error at start).
            config: topic configs used when creating it (``retention.ms``...).
        """
        return self._graph.declare(
            Topic(
                name,
                key if key is not None else _DEFAULT_KEY,
                value if value is not None else _DEFAULT_VALUE,
                partitions,
                dict(config or {}),
            )
        )

    def stream(self, topic: Topic) -> Stream:
        """The stream of records of ``topic`` (declared with :meth:`topic`)."""
        topic = self._graph.check_topic(topic, "stream()")
        return Stream(self._graph, self._graph.source(topic))

    def table(self, topic: Topic, *, name: str | None = None) -> Table:
        """The table of ``topic``: the latest value per key (a tombstone deletes the key),
        materialised in a state store named ``name`` (default ``{topic}-table``).

        Join streams with it (``stream.join(table, joiner)``, co-partitioned), filter it,
        map its values, join it with another table, or follow its updates with
        ``to_stream()``.

        Example:
            >>> import strom
            >>> app = strom.App("docs-app-table")
            >>> users = app.table(app.topic("users"))
            >>> users.name
            'users-table'
        """
        from strom.dsl.table import Table
        from strom.runtime.operators.joins import TableSpec

        topic = self._graph.check_topic(topic, "table()")
        step = self._graph.names.claim(name or f"{topic.name}-table", "table")
        node = Stateful(step, (self._graph.source(topic),), TableSpec(topic.key, topic.value))
        return Table(self._graph, node, node, ())

    def global_table(self, topic: Topic) -> GlobalTable:
        """Every partition of ``topic`` (a small one) kept by every process, so that streams
        can look it up by any key: ``stream.join(global_table, joiner, lookup_key=...)``.
        Each process reads the whole topic when it starts, then follows it.

        Example:
            >>> import strom
            >>> app = strom.App("docs-app-global")
            >>> countries = app.global_table(app.topic("countries"))
        """
        from strom.dsl.table import GlobalTable

        topic = self._graph.check_topic(topic, "global_table()")
        self._graph.global_tables[topic.name] = topic
        return GlobalTable(self._graph, topic)

    def store(self, name: str) -> StoreView:
        """Query store ``name`` of the running application (from another thread, or a step):
        ``get(key)``, ``range(lo, hi)``, ``fetch(key, from_ms, to_ms)``. Keys held by another
        process are asked of it (see :mod:`strom.runtime.queries`).

        Raises:
            StromError: the application is not running (or has no stateful step).
            ConfigError: no store has this name.
        """
        runner = self._runner
        if runner is None or runner.queries is None:
            raise StromError(
                f"application {self.name!r} is not running, or has no stateful step: there is "
                "no store to query"
            )
        return runner.queries.store(name)

    def runner(self, log: Log) -> Runner:
        """A :class:`~strom.runtime.runner.Runner` of this application on ``log``.

        :meth:`run` and :class:`strom.testing.TestDriver` use it; use it to drive the loop
        yourself (``start()``, ``step()``, ``close()``).
        """
        return Runner(self._graph, self._settings, log)

    def run(self, *, broker: str | None = None) -> None:
        """Run until :meth:`stop`, SIGTERM or SIGINT; then shut down gracefully.

        Graceful shutdown: stop polling, finish the batch in hand, flush outputs, commit,
        close, within ``shutdown_timeout`` (else the process exits with status 1). A second
        signal exits at once with status 128 + signal number. Signal handlers are installed
        only when called from the main thread, and restored on return.

        Args:
            broker: run on this log, whatever ``$STROM_BROKER`` and ``App(broker=)`` say
                (``strom run --broker``).

        Raises:
            ProcessingError: a step raised; the message names step, topic, partition, offset.
            SerializationError: a record could not be decoded or encoded.
            TopicNotFoundError: a topic is missing (and has no ``partitions`` to create it).
        """
        self._stop_requested = False
        main = threading.current_thread() is threading.main_thread()
        url, source = choose_url(broker, self._configured_broker)
        parse_url(url)
        log.info("application %r runs on %s (from %s)", self.name, mask_url(url), source)
        with connect_log(url) as log_, self._signals(main):
            runner = self._runner = self.runner(log_)
            try:
                runner.start()
                if self._stop_requested:
                    runner.stop()
                runner.run()
            finally:
                with self._watchdog(main):
                    runner.close(self._settings.shutdown_timeout)
                self._runner = None

    def stop(self) -> None:
        """Ask :meth:`run` to shut down gracefully after the batch in hand (from any thread,
        or from a function of the pipeline)."""
        self._stop_requested = True
        runner = self._runner
        if runner is not None:
            runner.stop()

    @contextmanager
    def _signals(self, install: bool) -> Iterator[None]:
        if not install:
            yield
            return

        def handle(signum: int, frame: FrameType | None) -> None:
            if self._stop_requested:
                sys.stderr.write(f"strom: second {signal.Signals(signum).name}, exiting now\n")
                sys.stderr.flush()
                os._exit(128 + signum)
            log.info(
                "%s received: stopping %r gracefully (again to force)",
                signal.Signals(signum).name,
                self.name,
            )
            self.stop()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextmanager
    def _watchdog(self, armed: bool) -> Iterator[None]:
        """Exit the process if the shutdown outlasts ``shutdown_timeout`` (a client stuck in a
        call that ignores its timeout must not keep a stopped service alive)."""
        if not armed:
            yield
            return
        limit = self._settings.shutdown_timeout + 1.0

        def force() -> None:
            sys.stderr.write(f"strom: shutdown of {self.name!r} took over {limit:.0f} s, exiting\n")
            sys.stderr.flush()
            os._exit(1)

        timer = threading.Timer(limit, force)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def __repr__(self) -> str:
        return f"<strom.App {self.name!r} on {mask_url(self.broker)}>"


@contextmanager
def connect_log(url: str) -> Iterator[Log]:
    """Open the log at ``url`` and close it on exit."""
    log_ = connect(url)
    try:
        yield log_
    finally:
        log_.close()
