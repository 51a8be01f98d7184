"""Settings of the embedded log: per-topic configs (Kafka's names) and client options.

Topic configs use Kafka's names and meanings so a topic spec works unchanged on both logs.
The ones the embedded log acts on are listed in :data:`TOPIC_DEFAULTS`; Kafka configs that have
no meaning on one machine (replication, compression, ...) are accepted, stored and shown by
``describe_topic``, and have no effect. Anything else is a :class:`~strom.errors.ConfigError`.

Client options come from the URL query (``local://data?fsync=interval``) and the ``options``
of :func:`strom.log.connect`, ``Log.producer`` and ``Log.consumer``; see :data:`LOG_OPTIONS`,
:data:`PRODUCER_OPTIONS` and :data:`CONSUMER_OPTIONS`.

Example:
    >>> cfg = TopicConfig.parse({"cleanup.policy": "compact", "segment.ms": "100"}, topic="t")
    >>> (cfg.compact, cfg.delete, cfg.segment_ms)
    (True, False, 100)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from strom.errors import ConfigError

TOPIC_DEFAULTS: dict[str, str] = {
    "cleanup.policy": "delete",
    "retention.ms": "604800000",
    "retention.bytes": "-1",
    "segment.bytes": "1073741824",
    "segment.ms": "604800000",
    "delete.retention.ms": "86400000",
    "max.message.bytes": "1048588",
    "min.cleanable.dirty.ratio": "0.5",
    "min.compaction.lag.ms": "0",
    "message.timestamp.type": "CreateTime",
    "index.interval.bytes": "4096",
}
"""Topic configs the embedded log implements, with Kafka's defaults."""

TOPIC_ACCEPTED = frozenset(
    {
        "compression.type",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "follower.replication.throttled.replicas",
        "leader.replication.throttled.replicas",
        "local.retention.bytes",
        "local.retention.ms",
        "max.compaction.lag.ms",
        "message.downconversion.enable",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.difference.max.ms",
        "min.insync.replicas",
        "preallocate",
        "remote.storage.enable",
        "segment.index.bytes",
        "segment.jitter.ms",
        "unclean.leader.election.enable",
    }
)
"""Kafka topic configs accepted for compatibility; they have no effect on one machine."""

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def validate_topic_name(name: str) -> None:
    """Kafka's rules: 1-249 of ``[A-Za-z0-9._-]``, not ``.`` or ``..``."""
    if not isinstance(name, str) or not _TOPIC_NAME.match(name) or name in (".", ".."):
        raise ConfigError(
            f"topic name {name!r} is invalid: use 1 to 249 characters of letters, digits, "
            "'.', '_' and '-' (and not '.' or '..')"
        )


def _int(name: str, raw: str, topic: str, minimum: int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"topic {topic!r}: config {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"topic {topic!r}: config {name}={value} must be >= {minimum}")
    return value


@dataclass(frozen=True, slots=True)
class TopicConfig:
    """The parsed, validated configs of one topic (time in ms, sizes in bytes)."""

    raw: Mapping[str, str]
    compact: bool
    delete: bool
    retention_ms: int
    retention_bytes: int
    segment_bytes: int
    segment_ms: int
    delete_retention_ms: int
    max_message_bytes: int
    min_cleanable_dirty_ratio: float
    min_compaction_lag_ms: int
    log_append_time: bool
    index_interval_bytes: int

    @classmethod
    def parse(cls, config: Mapping[str, Any], *, topic: str) -> TopicConfig:
        """Validate ``config`` (Kafka names, string values) over the defaults.

        Raises:
            ConfigError: an unknown name or an invalid value, naming both.
        """
        given: dict[str, str] = {}
        for name, value in config.items():
            if name not in TOPIC_DEFAULTS and name not in TOPIC_ACCEPTED:
                raise ConfigError(
                    f"topic {topic!r}: unknown config {name!r}; the embedded log knows "
                    + ", ".join(sorted(TOPIC_DEFAULTS))
                )
            given[name] = str(value).strip()
        merged = {**TOPIC_DEFAULTS, **given}
        policies = {p.strip() for p in merged["cleanup.policy"].split(",") if p.strip()}
        if not policies or not policies <= {"compact", "delete"}:
            raise ConfigError(
                f"topic {topic!r}: cleanup.policy={merged['cleanup.policy']!r} must be "
                "'delete', 'compact' or 'compact,delete'"
            )
        ts_type = merged["message.timestamp.type"]
        if ts_type not in ("CreateTime", "LogAppendTime"):
            raise ConfigError(
                f"topic {topic!r}: message.timestamp.type={ts_type!r} must be "
                "'CreateTime' or 'LogAppendTime'"
            )
        try:
            ratio = float(merged["min.cleanable.dirty.ratio"])
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError(
                f"topic {topic!r}: min.cleanable.dirty.ratio="
                f"{merged['min.cleanable.dirty.ratio']!r} must be a number in [0, 1]"
            )
        return cls(
            raw=merged,
            compact="compact" in policies,
            delete="delete" in policies,
            retention_ms=_int("retention.ms", merged["retention.ms"], topic, -1),
            retention_bytes=_int("retention.bytes", merged["retention.bytes"], topic, -1),
            segment_bytes=_int("segment.bytes", merged["segment.bytes"], topic, 1),
            segment_ms=_int("segment.ms", merged["segment.ms"], topic, 1),
            delete_retention_ms=_int(
                "delete.retention.ms", merged["delete.retention.ms"], topic, 0
            ),
            max_message_bytes=_int("max.message.bytes", merged["max.message.bytes"], topic, 0),
            min_cleanable_dirty_ratio=ratio,
            min_compaction_lag_ms=_int(
                "min.compaction.lag.ms", merged["min.compaction.lag.ms"], topic, 0
            ),
            log_append_time=ts_type == "LogAppendTime",
            index_interval_bytes=_int(
                "index.interval.bytes", merged["index.interval.bytes"], topic, 0
            ),
        )


# --- client options --------------------------------------------------------------------------

LOG_OPTIONS: dict[str, str] = {
    "fsync": "batch",
    "fsync.interval.ms": "1000",
    "on_corruption": "error",
}
"""Options of the log itself: durability policy and what to do with a corrupt batch."""

PRODUCER_OPTIONS: dict[str, str] = {
    "linger.ms": "5",
    "batch.size": "1048576",
    "batch.num.messages": "10000",
    "queue.buffering.max.messages": "100000",
    "queue.buffering.max.kbytes": "262144",
    "max.block.ms": "60000",
    "transaction.timeout.ms": "60000",
    "transaction.max.bytes": "134217728",
}
"""Producer options (librdkafka's names where one exists) with their defaults."""

CONSUMER_OPTIONS: dict[str, str] = {
    "session.timeout.ms": "10000",
    "heartbeat.interval.ms": "100",
    "max.poll.interval.ms": "300000",
    "partition.assignment.strategy": "range",
    "fetch.max.bytes": "4194304",
}
"""Consumer options (Kafka's names) with their defaults."""

KAFKA_CLIENT_IGNORED = frozenset(
    {
        "acks",
        "auto.offset.reset",
        "bootstrap.servers",
        "client.id",
        "compression.type",
        "debug",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "enable.idempotence",
        "group.id",
        "group.instance.id",
        "isolation.level",
        "message.max.bytes",
        "request.timeout.ms",
        "retries",
        "socket.timeout.ms",
        "statistics.interval.ms",
    }
)
"""Kafka client settings accepted so that one options dict serves both logs; no effect here."""

_IGNORED_PREFIXES = ("security.", "sasl.", "ssl.", "socket.", "log.", "log_")


def client_options(
    options: Mapping[str, Any], known: Mapping[str, str], role: str
) -> dict[str, str]:
    """Merge ``options`` over the defaults in ``known``; unknown names raise ConfigError."""
    out = dict(known)
    for name, value in options.items():
        if name in known:
            out[name] = str(value)
        elif (
            name in ALL_OPTIONS
            or name in KAFKA_CLIENT_IGNORED
            or name.startswith(_IGNORED_PREFIXES)
        ):
            continue
        else:
            raise ConfigError(
                f"unknown {role} option {name!r} for the embedded log (local://); known: "
                + ", ".join(sorted(known))
            )
    return out


def int_option(options: Mapping[str, str], name: str, minimum: int = 0) -> int:
    """An integer option, validated."""
    raw = options[name]
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"option {name}={value} must be >= {minimum}")
    return value


ALL_OPTIONS = frozenset({*LOG_OPTIONS, *PRODUCER_OPTIONS, *CONSUMER_OPTIONS})
