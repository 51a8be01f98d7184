"""Serdes by name, for the command line and configuration files.

Example:
    >>> from strom.serde import by_name
    >>> by_name("int").deserialize(b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x05")
    5
    >>> sorted(SERDE_NAMES)
    ['bytes', 'float', 'int', 'json', 'string']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strom.errors import ConfigError
from strom.serde.base import Serde
from strom.serde.json_serde import json
from strom.serde.primitives import bytes_, floating, integer, string

_FACTORIES: dict[str, Callable[[], Serde[Any]]] = {
    "bytes": bytes_,
    "string": string,
    "json": json,
    "int": integer,
    "float": floating,
}
_ALIASES = {
    "raw": "bytes",
    "str": "string",
    "utf8": "string",
    "utf-8": "string",
    "integer": "int",
    "long": "int",
    "double": "float",
}

SERDE_NAMES = tuple(_FACTORIES)
"""The canonical names :func:`by_name` accepts (aliases aside)."""


def by_name(name: str) -> Serde[Any]:
    """The serde called ``name``: bytes, string, json, int (8-byte) or float (8-byte).

    Aliases: raw, str, utf8, integer, long, double. Case does not matter.

    Raises:
        ConfigError: no serde has that name.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    factory = _FACTORIES.get(key)
    if factory is None:
        raise ConfigError(f"unknown serde {name!r}: use one of {', '.join(SERDE_NAMES)}")
    return factory()
