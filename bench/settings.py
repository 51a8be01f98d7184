"""The settings every implementation shares in a run, and their description for the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Settings:
    """One run's settings. The ``child`` part goes to every implementation script."""

    records: int = 300_000
    """Input records per pipeline run (start-up is outside the measured window)."""
    repeat: int = 3
    partitions: int = 4
    acks: str = "all"
    idempotence: bool = True
    linger_ms: int = 5
    compression: str = "none"
    commit_interval_s: float = 1.0
    poll_batch: int = 500
    """Records per poll where the implementation lets the user choose."""
    latency_rate: int = 10_000
    """Offered load of the latency workload, events/s."""
    latency_seconds: float = 10.0
    latency_warmup_s: float = 2.0
    log_records: int = 200_000
    """Records per record size in the log-throughput workload."""
    log_batch: int = 500
    """Records per send batch (flush) and per poll in the log-throughput workload."""
    timeout_s: float = 900.0
    """Longest one implementation run may take before it is stopped."""

    def child(self) -> dict[str, Any]:
        """The settings passed to every implementation script."""
        return {
            "acks": self.acks,
            "idempotence": self.idempotence,
            "linger_ms": self.linger_ms,
            "compression": self.compression,
            "commit_interval_s": self.commit_interval_s,
            "poll_batch": self.poll_batch,
        }

    def as_dict(self) -> dict[str, Any]:
        """Every setting, for the raw results."""
        return asdict(self)

    @classmethod
    def quick(cls) -> Settings:
        """Small sizes and one repetition: a smoke run, not figures."""
        return cls(
            records=20_000,
            repeat=1,
            latency_rate=2_000,
            latency_seconds=3.0,
            latency_warmup_s=1.0,
            log_records=20_000,
            timeout_s=300.0,
        )

    def describe(self) -> list[str]:
        """Bullet lines for the report."""
        return [
            f"input: {self.records:,} JSON events per pipeline run, {self.partitions} partitions, "
            "keyed by user id; ~40% are logins",
            "serializer: JSON with orjson (strom's json serde, Quix's and faust's JSON codecs "
            "use orjson; the raw loop and Bytewax call orjson directly)",
            f"producer: acks={self.acks}, enable.idempotence={str(self.idempotence).lower()}, "
            f"linger.ms={self.linger_ms}, compression={self.compression}; other librdkafka "
            "settings at their defaults",
            f"commit interval: {self.commit_interval_s:g} s; at-least-once: outputs flushed "
            "(acknowledged) before input offsets are committed",
            f"records per poll: {self.poll_batch} where the implementation lets the user choose",
            f"repetitions: {self.repeat}, each implementation in its own fresh process, "
            "implementations interleaved within each repetition",
        ]
