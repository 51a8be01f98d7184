"""Durations at the API boundary: ``int`` milliseconds or ``datetime.timedelta``, once.

Inside strom every time is an integer number of epoch milliseconds; the public window API
also accepts :class:`datetime.timedelta` and converts it here, exactly (a duration that is not
a whole number of milliseconds is refused rather than rounded).

Example:
    >>> from datetime import timedelta
    >>> from strom.windows.durations import to_millis
    >>> to_millis(timedelta(minutes=5), "size"), to_millis(250, "grace")
    (300000, 250)
    >>> to_millis(1.5, "size")
    Traceback (most recent call last):
    ...
    strom.errors.ConfigError: size must be an int (milliseconds) or a ... got 1.5 (float)
"""

from __future__ import annotations

from datetime import timedelta

from strom.errors import ConfigError

_MS = timedelta(milliseconds=1)


def to_millis(value: int | timedelta, what: str) -> int:
    """``value`` in whole milliseconds.

    Args:
        value: an ``int`` (milliseconds) or a ``timedelta``.
        what: the name of the setting, for the error message (e.g. ``"tumbling window size"``).

    Raises:
        ConfigError: ``value`` is neither (``bool`` and ``float`` are refused), or a
            ``timedelta`` with a fraction of a millisecond.
    """
    if type(value) is int:
        return value
    if isinstance(value, timedelta):
        millis, rest = divmod(value, _MS)
        if rest:
            raise ConfigError(f"{what} must be a whole number of milliseconds, got {value!r}")
        return int(millis)
    raise ConfigError(
        f"{what} must be an int (milliseconds) or a datetime.timedelta, "
        f"got {value!r} ({type(value).__name__})"
    )


def check_grace(grace: int | timedelta) -> int:
    """The grace period in ms, validated: how long after its end a window accepts records.

    Example:
        >>> from datetime import timedelta
        >>> check_grace(timedelta(seconds=30))
        30000
        >>> check_grace(-1)
        Traceback (most recent call last):
        ...
        strom.errors.ConfigError: grace must be >= 0 ms, got -1

    Raises:
        ConfigError: not an int/timedelta, or negative.
    """
    millis = to_millis(grace, "grace")
    if millis < 0:
        raise ConfigError(f"grace must be >= 0 ms, got {millis}")
    return millis
