"""Serdes for raw bytes, text and fixed-size numbers (Kafka's built-in serializer formats).

Integers and floats use big-endian byte order like Kafka's ``LongSerializer``,
``IntegerSerializer`` and ``DoubleSerializer``, so records interoperate with Java clients.

Example:
    >>> from strom.serde import integer, string
    >>> integer().serialize(1)
    b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01'
    >>> string().deserialize(b"caf\\xc3\\xa9")
    'café'
"""

from __future__ import annotations

import codecs
import struct
from typing import Any

from strom.errors import ConfigError, SerializationError
from strom.serde._describe import preview
from strom.serde.base import Serde

_INT_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}
_FLOAT_CODES = {4: "f", 8: "d"}


class BytesSerde:
    """Bytes unchanged (``bytearray`` and ``memoryview`` are copied to ``bytes``)."""

    __slots__ = ()
    name = "bytes"

    def serialize(self, value: bytes | None) -> bytes | None:
        """The bytes themselves."""
        if value is None or value.__class__ is bytes:
            return value
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        raise SerializationError(
            f"bytes serde: expected bytes, got {preview(value)}; "
            "encode the value first or use another serde (string, json, ...)"
        )

    def deserialize(self, data: bytes | None) -> bytes | None:
        """The bytes themselves."""
        return data


class StringSerde:
    """Text in a given encoding (UTF-8 by default)."""

    __slots__ = ("_encoding", "name")

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self.name = "string"

    def serialize(self, value: str | None) -> bytes | None:
        """``value`` encoded."""
        if value is None:
            return None
        try:
            return value.encode(self._encoding)
        except AttributeError:
            raise SerializationError(f"string serde: expected str, got {preview(value)}") from None
        except UnicodeEncodeError as exc:
            raise SerializationError(
                f"string serde: {preview(value)} cannot be encoded as {self._encoding}: "
                f"{exc.reason} at character {exc.start}"
            ) from exc

    def deserialize(self, data: bytes | None) -> str | None:
        """``data`` decoded."""
        if data is None:
            return None
        try:
            return data.decode(self._encoding)
        except UnicodeDecodeError as exc:
            raise SerializationError(
                f"string serde: {preview(data)} is not valid {self._encoding} ({exc.reason} at "
                f"byte {exc.start}); read it with the bytes serde instead"
            ) from exc
        except AttributeError:
            if isinstance(data, memoryview | bytearray):
                return bytes(data).decode(self._encoding)
            raise SerializationError(
                f"string serde: expected bytes to decode, got {preview(data)}"
            ) from None


class _StructSerde:
    """A fixed-size value packed with one :class:`struct.Struct`; subclasses say what it is."""

    __slots__ = ("_pack", "_size", "_unpack", "name")

    def __init__(self, fmt: str, size: int, name: str) -> None:
        compiled = struct.Struct(fmt)
        self._pack = compiled.pack
        self._unpack = compiled.unpack
        self._size = size
        self.name = name

    def _pack_error(self, value: Any, exc: Exception) -> str:
        raise NotImplementedError

    def _unpack_error(self, data: bytes) -> str:
        raise NotImplementedError

    def serialize(self, value: Any) -> bytes | None:
        """``value`` as ``size`` big-endian bytes."""
        if value is None:
            return None
        try:
            return self._pack(value)
        except (struct.error, OverflowError) as exc:
            raise SerializationError(self._pack_error(value, exc)) from None

    def deserialize(self, data: bytes | None) -> Any:
        """The value in ``data``, which must be exactly ``size`` bytes."""
        if data is None:
            return None
        try:
            return self._unpack(data)[0]
        except (struct.error, TypeError):
            raise SerializationError(self._unpack_error(data)) from None


class IntegerSerde(_StructSerde):
    """A fixed-size big-endian integer (two's complement when signed)."""

    __slots__ = ("_describe", "_kind")

    def __init__(self, size: int, signed: bool) -> None:
        code = _INT_CODES[size] if signed else _INT_CODES[size].upper()
        super().__init__(">" + code, size, "int")
        bits = size * 8
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        self._kind = f"{size}-byte {'signed' if signed else 'unsigned'} big-endian integer"
        self._describe = f"{self._kind} (range {low}..{high})"

    def _pack_error(self, value: Any, exc: Exception) -> str:
        return f"int serde: {preview(value)} is not a {self._describe}"

    def _unpack_error(self, data: bytes) -> str:
        return (
            f"int serde: expected exactly {self._size} bytes for a {self._kind}, "
            f"got {preview(data)}; was it written with another size (integer(size=...))?"
        )


class FloatSerde(_StructSerde):
    """An IEEE 754 float, big-endian (8 bytes: double, like Kafka's DoubleSerializer)."""

    __slots__ = ()

    def __init__(self, size: int) -> None:
        super().__init__(">" + _FLOAT_CODES[size], size, "float")

    def _pack_error(self, value: Any, exc: Exception) -> str:
        return (
            f"float serde: {preview(value)} cannot be packed as a {self._size}-byte "
            f"IEEE 754 float: {exc}"
        )

    def _unpack_error(self, data: bytes) -> str:
        return (
            f"float serde: expected exactly {self._size} bytes for a big-endian IEEE 754 "
            f"float, got {preview(data)}"
        )


def bytes_() -> Serde[bytes]:
    """Bytes in, the same bytes out. Also available as :func:`raw`.

    Example:
        >>> bytes_().serialize(b"\\x00\\xff")
        b'\\x00\\xff'
    """
    return BytesSerde()


raw = bytes_


def string(encoding: str = "utf-8") -> Serde[str]:
    """Text encoded with ``encoding`` (like Kafka's StringSerializer).

    Raises:
        ConfigError: ``encoding`` is not a codec Python knows.

    Example:
        >>> s = string()
        >>> s.serialize("café")
        b'caf\\xc3\\xa9'
        >>> s.deserialize(s.serialize("café"))
        'café'
    """
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(
            f"string serde: unknown encoding {encoding!r}; use a Python codec name such as 'utf-8'"
        ) from None
    return StringSerde(encoding)


def integer(size: int = 8, signed: bool = True) -> Serde[int]:
    """A big-endian integer of ``size`` bytes (8 is Kafka's Long, 4 its Integer, 2 its Short).

    Raises:
        ConfigError: ``size`` is not 1, 2, 4 or 8.

    Example:
        >>> integer(size=4).serialize(258)
        b'\\x00\\x00\\x01\\x02'
        >>> integer(size=2, signed=False).deserialize(b"\\xff\\xff")
        65535
    """
    if size not in _INT_CODES or isinstance(size, bool):
        raise ConfigError(f"integer serde: size must be 1, 2, 4 or 8 bytes, got {size!r}")
    return IntegerSerde(size, bool(signed))


def floating(size: int = 8) -> Serde[float]:
    """A big-endian IEEE 754 float: 8 bytes (Kafka's Double, the default) or 4 (its Float).

    Raises:
        ConfigError: ``size`` is not 4 or 8.

    Example:
        >>> floating().serialize(1.5)
        b'?\\xf8\\x00\\x00\\x00\\x00\\x00\\x00'
        >>> floating().deserialize(floating().serialize(0.1))
        0.1
    """
    if size not in _FLOAT_CODES or isinstance(size, bool):
        raise ConfigError(f"floating serde: size must be 4 or 8 bytes, got {size!r}")
    return FloatSerde(size)
