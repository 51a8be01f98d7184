"""The sink interface: where a pipeline hands records to the outside world in batches.

The runtime calls :meth:`Sink.add` for each record and :meth:`Sink.flush` at every checkpoint,
before it commits the input offsets: a record is only committed once its sink flushed it.

Back-pressure: when the destination cannot take more, ``add`` or ``flush`` raises
:class:`~strom.errors.SinkBusyError`. The runtime then pauses the application's partitions for
``retry_after`` seconds and re-delivers every record since the last checkpoint. A sink raising
it must therefore drop what it buffered since its last successful flush (:class:`BatchingSink`
does).

Example:
    >>> class PrintSink(BatchingSink):
    ...     def write(self, batch):
    ...         print([r.value for r in batch])
    >>> sink = PrintSink()
    >>> sink.add({"n": 1}, "k", 0, (), "events", 0, 0)
    >>> sink.flush()
    [{'n': 1}]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple, Protocol, runtime_checkable

from strom.errors import SinkBusyError
from strom.log.types import Headers


@runtime_checkable
class Sink(Protocol):
    """Receives records one by one and writes them out in batches."""

    def add(
        self,
        value: Any,
        key: Any,
        timestamp: int,
        headers: Headers,
        topic: str,
        partition: int,
        offset: int,
    ) -> None:
        """Take one record (the value as the pipeline produced it, the current key, and the
        input record's timestamp, headers and position). May raise SinkBusyError."""
        ...

    def flush(self) -> None:
        """Write everything added so far; return only when it is durable at the destination.
        May raise SinkBusyError (after dropping what it buffered)."""
        ...


class SinkRecord(NamedTuple):
    """One record buffered by a :class:`BatchingSink`."""

    value: Any
    key: Any
    timestamp: int
    headers: Headers
    topic: str
    partition: int
    offset: int


class BatchingSink(ABC):
    """A sink that buffers records and writes them with :meth:`write` at each flush.

    Subclasses implement :meth:`write`. When ``max_batch`` records are buffered, ``add``
    writes them at once so memory stays bounded.

    Args:
        max_batch: write as soon as this many records are buffered (None: only at flush).
    """

    def __init__(self, max_batch: int | None = None) -> None:
        self._batch: list[SinkRecord] = []
        self._max_batch = max_batch

    @abstractmethod
    def write(self, batch: list[SinkRecord]) -> None:
        """Write ``batch`` to the destination. Raise SinkBusyError to ask for back-pressure."""

    def add(
        self,
        value: Any,
        key: Any,
        timestamp: int,
        headers: Headers,
        topic: str,
        partition: int,
        offset: int,
    ) -> None:
        """Buffer one record; write the buffer when it holds ``max_batch`` records."""
        self._batch.append(SinkRecord(value, key, timestamp, headers, topic, partition, offset))
        if self._max_batch is not None and len(self._batch) >= self._max_batch:
            self.flush()

    def flush(self) -> None:
        """Write and clear the buffer; on SinkBusyError drop it and re-raise."""
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        try:
            self.write(batch)
        except SinkBusyError:
            # The runtime re-delivers everything since the last checkpoint; keeping the
            # batch would write those records twice.
            self._batch = []
            raise
