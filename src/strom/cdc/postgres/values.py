"""PostgreSQL values in text form (each type's output function) to Debezium's JSON values.

The session settings they rely on: ``DateStyle=ISO``, ``TimeZone=UTC``,
``IntervalStyle=postgres``, ``lc_monetary=C``, ``bytea_output=hex``
(:data:`strom.cdc.postgres.source.SESSION_OPTIONS`).

Example:
    >>> interval_us("1 day 02:00:00"), zoned_time("01:00:00+05:30")
    (93600000000, '19:30:00Z')
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from strom.cdc.connect import b64, encode_decimal, encode_variable_decimal

Converter = Callable[[str], Any]
"""Text of one value (never None: NULL is handled before) to its Debezium JSON value."""

_EPOCH = datetime(1970, 1, 1)
_EPOCH_DATE = date(1970, 1, 1)
_US = timedelta(microseconds=1)
# Debezium's values for 'infinity' / '-infinity' timestamps (PGStatement.DATE_*_INFINITY).
_INFINITY_US = 9223372036825200000
_MINUS_INFINITY_US = -9223372036832400000


def boolean(text: str) -> bool:
    """``t``/``f``."""
    return text == "t"


def floating(text: str) -> float | str:
    """A float; NaN and infinities as Java's spelling in a string (JSON has no such numbers)."""
    if text in ("NaN", "Infinity", "-Infinity"):
        return text  # JSON has no NaN/Infinity: strom writes Java's spelling as a string
    return float(text)


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None  # Debezium's precise mode: NaN/Infinity -> null


def fixed_decimal(scale: int) -> Converter:
    """A converter of ``numeric(p, scale)`` to Connect's Decimal (base64)."""

    def convert(text: str) -> str | None:
        value = _decimal(text)
        return None if value is None else encode_decimal(value, scale)

    return convert


def variable_decimal(text: str) -> dict[str, Any] | None:
    """Unconstrained ``numeric`` to Debezium's VariableScaleDecimal; NaN to None."""
    value = _decimal(text)
    return None if value is None else encode_variable_decimal(value)


def money(text: str) -> str | None:
    """``money`` in the C locale (``-$1,234.56``) to a Decimal of scale 2."""
    negative = text.startswith("-") or text.startswith("(")
    digits = text.replace("$", "").replace(",", "").strip("-() ")
    value = _decimal(digits)
    if value is None:
        return None
    return encode_decimal(-value if negative else value, 2)


def bytea(text: str) -> str:
    """``\\x...`` hex to base64."""
    if text.startswith("\\x"):
        return b64(bytes.fromhex(text[2:]))
    return b64(text.encode())


def date_days(text: str) -> int:
    """Days since 1970-01-01."""
    if text == "infinity" or text == "-infinity":
        raise ValueError(f"date {text!r} has no day number")
    return (date.fromisoformat(text) - _EPOCH_DATE).days


def timestamp_us(text: str) -> int:
    """Microseconds since the epoch; ``infinity`` as Debezium's constants."""
    if text == "infinity":
        return _INFINITY_US
    if text == "-infinity":
        return _MINUS_INFINITY_US
    return (datetime.fromisoformat(text) - _EPOCH) // _US


def timestamp_ms(text: str) -> int:
    """Milliseconds since the epoch."""
    return timestamp_us(text) // 1000


def _parse_tz(text: str) -> datetime:
    # PostgreSQL writes offsets as +HH, +HH:MM or +HH:MM:SS; fromisoformat wants +HH:MM.
    match = re.search(r"([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$", text)
    if match is None:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    sign, hh, mm, ss = match.groups()
    offset = timedelta(hours=int(hh), minutes=int(mm or 0), seconds=int(ss or 0))
    naive = datetime.fromisoformat(text[: match.start()])
    return naive.replace(tzinfo=timezone(offset if sign == "+" else -offset))


def _fraction(micros: int, width: int) -> str:
    """Java's appendFraction: ``width`` digits (1-9), or the minimal digits when width is 0."""
    if width <= 0 or width > 9:
        if micros == 0:
            return ""
        return "." + f"{micros:06d}".rstrip("0")
    return "." + f"{micros:06d}{'000'}"[:width]


def zoned_timestamp(width: int) -> Converter:
    """A converter to Debezium's ZonedTimestamp (UTC, ``width`` fraction digits)."""

    def convert(text: str) -> str:
        if text in ("infinity", "-infinity"):
            return text
        moment = _parse_tz(text).astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(moment.microsecond, width) + "Z"

    return convert


def time_us(text: str) -> int:
    """Microseconds of the day (``24:00:00`` allowed)."""
    hours, minutes, seconds = text.split(":")
    whole, _, frac = seconds.partition(".")
    micros = int((frac + "000000")[:6]) if frac else 0
    return ((int(hours) * 60 + int(minutes)) * 60 + int(whole)) * 1_000_000 + micros


def time_ms(text: str) -> int:
    """Milliseconds of the day."""
    return time_us(text) // 1000


def zoned_time(text: str) -> str:
    """A time with zone as Debezium's ZonedTime, in UTC."""
    match = re.match(
        r"(\d\d):(\d\d):(\d\d)(?:\.(\d+))?([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$", text
    )
    if match is None:
        raise ValueError(f"not a time with time zone: {text!r}")
    hh, mi, ss, frac, sign, oh, om, osec = match.groups()
    micros = int(((frac or "") + "000000")[:6])
    offset = int(oh) * 3600 + int(om or 0) * 60 + int(osec or 0)
    seconds = int(hh) * 3600 + int(mi) * 60 + int(ss) - (offset if sign == "+" else -offset)
    seconds %= 86400
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}{_fraction(micros, 0)}Z"


_INTERVAL_UNIT = re.compile(r"([+-]?\d+) (year|mon|day)s?")
_INTERVAL_TIME = re.compile(r"([+-])?(\d+):(\d\d):(\d\d(?:\.\d+)?)")


def interval_us(text: str) -> int:
    """Debezium's MicroDuration: months of 365.25/12 days, computed in doubles as Java does."""
    years = months = days = hours = minutes = 0
    seconds = 0.0
    for amount, unit in _INTERVAL_UNIT.findall(text):
        if unit == "year":
            years = int(amount)
        elif unit == "mon":
            months = int(amount)
        else:
            days = int(amount)
    clock = _INTERVAL_TIME.search(text)
    if clock is not None:
        sign = -1 if clock.group(1) == "-" else 1
        hours = sign * int(clock.group(2))
        minutes = sign * int(clock.group(3))
        seconds = sign * float(clock.group(4))
    number_of_days = ((years * 12) + months) * (365.25 / 12.0) + days
    number_of_seconds = (((number_of_days * 24 + hours) * 60) + minutes) * 60 + seconds
    return int(number_of_seconds * 1e6)


def bits(text: str) -> str:
    """A bit string as little-endian bytes (Debezium's Bits), base64."""
    value = int(text, 2) if text else 0
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "little"))


def bit_bool(text: str) -> bool:
    """``bit(1)`` as a boolean."""
    return int(text, 2) != 0 if text else False


def point(text: str) -> dict[str, Any]:
    """``(x,y)`` as Debezium's Point struct (with its WKB)."""
    x_text, y_text = text.strip("()").split(",")
    x, y = float(x_text), float(y_text)
    wkb = struct.pack("<BIdd", 1, 1, x, y)
    return {"x": x, "y": y, "wkb": base64.b64encode(wkb).decode(), "srid": None}


def text_value(text: str) -> str:
    """The text itself."""
    return text


def integer(text: str) -> int:
    """An integer."""
    return int(text)


def parse_array(text: str) -> list[Any]:
    """A PostgreSQL array literal as nested lists of element texts (None for NULL).

    Example:
        >>> parse_array('{1,NULL,"a \\\\"b\\\\"",{2,3}}')
        ['1', None, 'a "b"', ['2', '3']]
    """
    if text.startswith("["):  # explicit bounds: [0:1]={...}
        text = text[text.index("=") + 1 :]
    pos = 0

    def parse() -> list[Any]:
        nonlocal pos
        assert text[pos] == "{"
        pos += 1
        items: list[Any] = []
        if text[pos] == "}":
            pos += 1
            return items
        while True:
            if text[pos] == "{":
                items.append(parse())
            elif text[pos] == '"':
                pos += 1
                chars = []
                while text[pos] != '"':
                    if text[pos] == "\\":
                        pos += 1
                    chars.append(text[pos])
                    pos += 1
                pos += 1
                items.append("".join(chars))
            else:
                start = pos
                while text[pos] not in ",}":
                    pos += 1
                raw = text[start:pos].strip()
                items.append(None if raw.upper() == "NULL" else raw)
            if text[pos] == ",":
                pos += 1
                continue
            pos += 1  # '}'
            return items

    return parse()


def array_of(convert: Converter) -> Converter:
    """A converter of array literals whose elements ``convert`` converts."""

    def convert_array(text: str) -> list[Any]:
        def walk(items: list[Any]) -> list[Any]:
            return [
                walk(item) if isinstance(item, list) else (None if item is None else convert(item))
                for item in items
            ]

        return walk(parse_array(text))

    return convert_array
