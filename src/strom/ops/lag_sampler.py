"""Consumer lag of a running application, sampled into ``strom_consumer_lag``.

Lag per assigned partition = end offset (high watermark) - the consumer's position. The end
offsets are those the consumer learned from its last fetch (``watermarks(cached=True)``): on
Kafka, no broker round trip for a partition being fetched (a profile of the windowed benchmark
had 12% of the loop's wall time in these round trips); a paused partition's end is asked from
the broker, since its fetches stopped. The processing loop calls
:meth:`LagSampler.maybe_sample` every iteration and the sampler does the work at most once per
``interval_ms``.

Example:
    >>> import tempfile, strom.log
    >>> from strom.ops.metrics import Metrics
    >>> log = strom.log.connect("local://" + tempfile.mkdtemp())
    >>> log.admin().create_topics([strom.log.TopicSpec("t")])
    >>> producer = log.producer()
    >>> for i in range(3):
    ...     producer.send("t", b"v")
    >>> producer.flush()
    >>> consumer = log.consumer("g")
    >>> consumer.assign([strom.log.TopicPartition("t", 0)])
    >>> consumer.seek(strom.log.TopicPartition("t", 0), 1)
    >>> metrics = Metrics("app")
    >>> LagSampler(consumer, metrics, clock=lambda: 0).maybe_sample()
    {TopicPartition(topic='t', partition=0): 2}
    >>> metrics.value("strom_consumer_lag", topic="t", partition="0")
    2.0
    >>> consumer.close(); producer.close(); log.close()
"""

from __future__ import annotations

import logging

from strom.error_policies import Clock, system_clock_ms
from strom.errors import StromError
from strom.log.protocols import Consumer
from strom.log.types import TopicPartition
from strom.ops.metrics import Metrics

_log = logging.getLogger(__name__)


class LagSampler:
    """Samples the lag of a consumer's assigned partitions at most once per interval.

    Args:
        consumer: the application's consumer.
        metrics: where ``strom_consumer_lag`` lives.
        interval_ms: minimum time between samples.
        clock: epoch ms now (injected so tests control time).
        timeout: seconds to wait for one partition's end offset.
    """

    def __init__(
        self,
        consumer: Consumer,
        metrics: Metrics,
        *,
        interval_ms: int = 10_000,
        clock: Clock = system_clock_ms,
        timeout: float = 5.0,
    ) -> None:
        self._consumer = consumer
        self._metrics = metrics
        self._interval_ms = interval_ms
        self._clock = clock
        self._timeout = timeout
        self._next_ms: int | None = None

    def maybe_sample(self) -> dict[TopicPartition, int] | None:
        """Sample now if the interval has passed; returns the lags sampled, or None."""
        now = self._clock()
        if self._next_ms is not None and now < self._next_ms:
            return None
        self._next_ms = now + self._interval_ms
        return self.sample()

    def sample(self) -> dict[TopicPartition, int]:
        """Sample every assigned partition whose position is known; a partition the log cannot
        answer for is left out this time (lag is a gauge, not worth stopping the loop for)."""
        lags: dict[TopicPartition, int] = {}
        for tp in self._consumer.assignment():
            position = self._consumer.position(tp)
            if position is None or position < 0:
                continue
            try:
                _, high = self._consumer.watermarks(tp, timeout=self._timeout, cached=True)
            except StromError as exc:
                _log.debug("lag of %s not sampled: %s", tp, exc)
                continue
            lags[tp] = max(0, high - position)
        self._metrics.set_lag(lags)
        return lags
