"""The in-memory backend: a dict per store partition, nothing on disk (always a full restore).

Example:
    >>> from strom.state.memory import MemoryEngine
    >>> engine = MemoryEngine()
    >>> engine.write([(b"b", b"2"), (b"a", b"1")])
    >>> engine.get(b"a"), list(engine.iterate(b"", None))
    (b'1', [(b'a', b'1'), (b'b', b'2')])
"""

from strom.state.memory.engine import MemoryEngine

__all__ = ["MemoryEngine"]
