"""MySQL and MariaDB change capture from the binlog."""

from strom.cdc.mysql.source import MySqlSource

__all__ = ["MySqlSource"]
