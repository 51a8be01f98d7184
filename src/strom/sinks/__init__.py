"""Sinks: batching writers to destinations outside the log (databases, files, services).

Example:
    >>> from strom.sinks import BatchingSink
    >>> class ListSink(BatchingSink):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.written = []
    ...     def write(self, batch):
    ...         self.written.extend(r.value for r in batch)
"""

from strom.sinks.base import BatchingSink, Sink, SinkRecord

__all__ = ["BatchingSink", "Sink", "SinkRecord"]
