"""Errors of change data capture, under :class:`strom.errors.StromError`.

Example:
    >>> from strom.errors import StromError
    >>> issubclass(SlotInUseError, CdcError) and issubclass(CdcError, StromError)
    True
"""

from __future__ import annotations

from strom.errors import ConfigError, StromError


class CdcError(StromError):
    """Change capture failed: the message names the database object and what to do."""


class SourceUnavailableError(CdcError):
    """The database could not be reached or the connection broke; a retry may succeed."""


class SlotInUseError(CdcError):
    """The replication slot is active in another process (another capture is running)."""


class MissingKeyError(CdcError, ConfigError):
    """A captured table has no primary key and the configured fallback is ``fail``."""


class PublicationError(CdcError, ConfigError):
    """The publication is missing or does not publish a captured table."""


class PositionLostError(CdcError):
    """The stored position can no longer be resumed (the slot or binlog is gone)."""
