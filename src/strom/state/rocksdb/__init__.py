"""The RocksDB backend (rocksdict, raw bytes): one instance per store partition on local disk.

See :mod:`strom.state.rocksdb.local` for the directory layout and when a local copy is trusted.
"""

from strom.state.rocksdb.engine import RocksDBEngine

__all__ = ["RocksDBEngine"]
