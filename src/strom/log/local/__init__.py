"""The embedded durable log: ``local://PATH``, strom's zero-setup default.

Files on disk, no server: several processes on one machine share a log directory safely.
Same semantics as the Kafka backend (the same contract suite runs on both).

Directory layout::

    PATH/topics/<topic>/topic.json           partition count, configs (Kafka's names), id
    PATH/topics/<topic>/<n>/                 a partition: segments, indexes, head, lock
    PATH/groups/<group>/                     members, group state, committed offsets
    PATH/transactions/                       transactional ids and pending intents

Modules, bottom up: ``segment`` (batch format, CRC-32C), ``index`` (sparse offset and time
index), ``head`` (the shared end-of-log), ``segments`` and ``partition`` (append, roll,
retention), ``recovery``, ``compaction``, ``reader``, ``topics``, ``offsets``, ``groups`` and
``assignors``, ``transactions``, ``producer``, ``consumer``, ``admin``, ``log``. Durability
policies are described in :mod:`strom.log.local.durability`.

Example:
    >>> import strom.log, tempfile
    >>> log = strom.log.connect("local://" + tempfile.mkdtemp() + "?fsync=none")
    >>> type(log).__name__
    'LocalLog'
    >>> log.close()
"""

from strom.log.local.log import LocalLog
from strom.log.local.transactions import LocalGroupMetadata

__all__ = ["LocalGroupMetadata", "LocalLog"]
