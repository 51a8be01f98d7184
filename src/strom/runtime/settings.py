"""How an application runs: the settings :class:`strom.App` resolves from its arguments and
hands to the :class:`~strom.runtime.runner.Runner`.

Example:
    >>> settings = Settings("orders", metrics_port=0)
    >>> settings.commit_interval, settings.timing_steps
    (1.0, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strom.error_policies import ErrorPolicy
from strom.errors import ConfigError
from strom.log.types import OffsetReset
from strom.runtime.checkpoint import Guarantee


@dataclass(frozen=True, slots=True)
class Settings:
    """How an application runs (built by :class:`strom.App` from its arguments).

    Attributes:
        name: application name: consumer group id and prefix of internal topics.
        guarantee: ``"at-least-once"`` or ``"at-most-once"``.
        commit_interval: seconds between checkpoints.
        shutdown_timeout: seconds a graceful shutdown may take.
        batch_size: most records per poll.
        poll_timeout: seconds a poll waits for the first record.
        auto_offset_reset: where a partition without committed offset starts.
        consumer_options: backend settings of the consumer (librdkafka names on Kafka).
        producer_options: backend settings of the producer.
        on_error: the app-wide error policy (None: fail).
        on_deserialization_error: the policy for undecodable input (None: ``on_error``).
        metrics_port: port of the ``/metrics``, ``/health``, ``/ready`` endpoint (None: off).
        metrics_host: interface of that endpoint.
        lag_interval: seconds between two samples of the consumer lag
            (``strom_consumer_lag``); each sample asks the log for every assigned
            partition's end offset.
        step_timing: time each step's work into ``strom_step_processing_seconds`` (one call
            in 8 is timed, which costs about 60 ns per record per step); None: on when
            ``metrics_port`` is set.
        stall_timeout: ``/health`` reports the application dead when its loop has not come
            back to poll for this many seconds (a step blocked, a sink hanging).
        num_standby_replicas: how many other processes keep a warm copy of each stateful
            task's stores, so that a failover restores only the changelog's tail.
        purge_interval: how often the records of repartition topics up to the committed
            offsets are deleted (seconds).
        transaction_timeout: exactly-once: how long a transaction may stay open before the
            broker aborts it (a process that died with one open blocks read-committed readers
            of its outputs at most this long).
        state_backend: where stateful steps keep their stores: ``"rocksdb"`` (on disk, a
            restart restores only the changelog's tail) or ``"memory"`` (restored in full).
        state_dir: the directory of RocksDB stores (``<state_dir>/<app>/<store>/<p>``).
        idle_timeout: when every input of a stateful task has been quiet this long (seconds),
            its event time follows the wall clock, so windows close on a quiet stream; None
            (default): event time moves only with records.
    """

    name: str
    guarantee: Guarantee = "at-least-once"
    commit_interval: float = 1.0
    shutdown_timeout: float = 30.0
    batch_size: int = 1000
    poll_timeout: float = 0.5
    auto_offset_reset: OffsetReset = "earliest"
    consumer_options: Mapping[str, Any] = field(default_factory=dict)
    producer_options: Mapping[str, Any] = field(default_factory=dict)
    on_error: ErrorPolicy | None = None
    on_deserialization_error: ErrorPolicy | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    lag_interval: float = 10.0
    step_timing: bool | None = None
    stall_timeout: float = 300.0
    transaction_timeout: float = 10.0
    purge_interval: float = 30.0
    num_standby_replicas: int = 0
    state_backend: str = "rocksdb"
    state_dir: str = ".strom-state"
    idle_timeout: float | None = None

    def __post_init__(self) -> None:
        if not self.lag_interval > 0:
            raise ConfigError(f"lag_interval must be positive seconds, got {self.lag_interval!r}")
        if self.state_backend not in ("rocksdb", "memory"):
            raise ConfigError(
                f"state_backend {self.state_backend!r} is unknown: use 'rocksdb' or 'memory'"
            )
        if self.idle_timeout is not None and not self.idle_timeout > 0:
            raise ConfigError(
                f"idle_timeout must be positive seconds or None, got {self.idle_timeout!r}"
            )
        if not self.stall_timeout > 0:
            raise ConfigError(f"stall_timeout must be positive seconds, got {self.stall_timeout!r}")

    @property
    def timing_steps(self) -> bool:
        """Whether steps are timed: ``step_timing``, else whether the endpoint is on."""
        if self.step_timing is not None:
            return self.step_timing
        return self.metrics_port is not None
