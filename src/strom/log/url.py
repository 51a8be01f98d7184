"""Parsing of log URLs: ``kafka://host:port[,host:port][?setting=value&...]`` and
``local://PATH``.

Example:
    >>> parse_url("kafka://k1:9092,k2:9092?security.protocol=SASL_SSL")
    LogURL(scheme='kafka', location='k1:9092,k2:9092', options={'security.protocol': 'SASL_SSL'})
    >>> parse_url("local://./data").location
    './data'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from strom.errors import ConfigError

DEFAULT_URL_ENV = "STROM_BROKER"
HOME_ENV = "STROM_HOME"
SCHEMES = ("kafka", "local")

_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})$")


@dataclass(frozen=True, slots=True)
class LogURL:
    """A parsed log URL."""

    scheme: str
    location: str
    options: dict[str, str] = field(default_factory=dict)


def default_url() -> str:
    """``$STROM_BROKER``, else ``local://$STROM_HOME``, else ``local://./.strom``."""
    return choose_url()[0]


def choose_url(explicit: str | None = None, configured: str | None = None) -> tuple[str, str]:
    """The log URL to use, and where it came from, by the one rule of the CLI and the API:
    ``explicit`` (``--broker``, ``App.run(broker=)``) > ``$STROM_BROKER`` > ``configured``
    (``App(broker=)``) > ``local://$STROM_HOME`` > ``local://./.strom``.

    Example:
        >>> import os
        >>> os.environ["STROM_BROKER"] = "local:///tmp/data"
        >>> choose_url(configured="kafka://k1:9092")
        ('local:///tmp/data', '$STROM_BROKER')
        >>> choose_url("kafka://k2:9092", configured="kafka://k1:9092")
        ('kafka://k2:9092', '--broker')
        >>> del os.environ["STROM_BROKER"]
        >>> choose_url(configured="kafka://k1:9092")
        ('kafka://k1:9092', 'App(broker=...)')
    """
    if explicit:
        return explicit, "--broker"
    env = os.environ.get(DEFAULT_URL_ENV)
    if env:
        return env, f"${DEFAULT_URL_ENV}"
    if configured:
        return configured, "App(broker=...)"
    home = os.environ.get(HOME_ENV)
    if home:
        return "local://" + home, f"${HOME_ENV}"
    return "local://./.strom", "default"


_SECRET_WORDS = ("password", "secret", "jaas", "token", "key.pem", "credential")


def mask_url(url: str) -> str:
    """``url`` with the values of secret-looking query settings replaced by ``***``, for logs.

    Example:
        >>> mask_url("kafka://k1:9092?sasl.username=ada&sasl.password=hunter2")
        'kafka://k1:9092?sasl.username=ada&sasl.password=***'
    """
    base, sep, query = url.partition("?")
    if not sep:
        return url
    parts = []
    for pair in query.split("&"):
        name, eq, _value = pair.partition("=")
        secret = eq and any(word in name.lower() for word in _SECRET_WORDS)
        parts.append(f"{name}=***" if secret else pair)
    return f"{base}?{'&'.join(parts)}"


def parse_url(url: str) -> LogURL:
    """Split and validate a log URL; raises ConfigError naming what is wrong."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(
            f"log URL {url!r} is malformed: expected 'kafka://host:port[,host:port]' "
            "or 'local://PATH'"
        )
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(
            f"log URL {url!r} has unknown scheme {scheme!r}: use one of "
            + ", ".join(f"'{s}://'" for s in SCHEMES)
        )
    location, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False)) if query else {}
    if scheme == "local":
        if not location:
            raise ConfigError(f"log URL {url!r} names no directory: use 'local://PATH'")
        return LogURL(scheme, location, options)
    hosts = [h.strip() for h in location.split(",")]
    if not location or any(not h for h in hosts):
        raise ConfigError(f"log URL {url!r} names no broker: use 'kafka://host:port[,host:port]'")
    for host in hosts:
        match = _HOST_PORT.match(host)
        if match is None:
            raise ConfigError(f"log URL {url!r}: broker address {host!r} is not 'host:port'")
        port = int(match.group(2))
        if not 0 < port < 65536:
            raise ConfigError(f"log URL {url!r}: port {port} of {host!r} is out of range")
    return LogURL(scheme, ",".join(hosts), options)
