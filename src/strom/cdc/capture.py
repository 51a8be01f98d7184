"""Build a capture from URLs: the one entry point of ``strom cdc run`` and of the library.

Example:
    >>> import tempfile
    >>> engine = capture("postgresql://strom@127.0.0.1:5432/shop", ["public.orders"],
    ...                  to="local://" + tempfile.mkdtemp(), prefix="shop")
    >>> engine.source.slot, engine.settings.prefix
    ('strom_shop', 'shop')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from strom.cdc.engine import CaptureSource, CdcEngine, EngineSettings
from strom.cdc.source import MissingKey, SnapshotMode, SourceSettings, split_tables
from strom.errors import ConfigError

POSTGRES_SCHEMES = ("postgresql", "postgres")
MYSQL_SCHEMES = ("mysql", "mariadb")


def scheme_of(url: str) -> str:
    """``postgresql``, ``postgres``, ``mysql`` or ``mariadb``; ConfigError otherwise."""
    scheme = url.partition("://")[0].lower()
    if scheme not in POSTGRES_SCHEMES + MYSQL_SCHEMES or "://" not in url:
        raise ConfigError(
            f"cdc: source {url.split('@')[-1]!r} must be a postgresql://, mysql:// or "
            "mariadb:// URL"
        )
    return scheme


def default_slot(name: str) -> str:
    """The replication slot (and publication) name strom uses for capture ``name``.

    Example:
        >>> default_slot("Shop-Orders.v2")
        'strom_shop_orders_v2'
    """
    return "strom_" + re.sub(r"[^a-z0-9_]", "_", name.lower())[:57]


def open_source(
    url: str,
    settings: SourceSettings,
    *,
    name: str,
    slot: str | None = None,
    publication: str | None = None,
    create_publication: bool = True,
    server_id: int | None = None,
    resume: str = "position",
) -> CaptureSource:
    """The source for ``url`` (PostgreSQL options apply to postgresql://, MySQL ones to mysql://)."""
    if scheme_of(url) in POSTGRES_SCHEMES:
        from strom.cdc.postgres import PostgresSource

        return PostgresSource(
            url,
            settings,
            slot=slot or default_slot(name),
            publication=publication,
            create_publication=create_publication,
        )
    from strom.cdc.mysql import MySqlSource

    if resume not in ("position", "gtid"):
        raise ConfigError(f"cdc: resume must be 'position' or 'gtid', got {resume!r}")
    return MySqlSource(url, settings, server_id=server_id, resume=resume)  # type: ignore[arg-type]


def capture(
    source: str,
    tables: Sequence[str] | str,
    *,
    to: str,
    prefix: str,
    name: str | None = None,
    snapshot: SnapshotMode = "initial",
    missing_key: MissingKey = "fail",
    slot: str | None = None,
    publication: str | None = None,
    create_publication: bool = True,
    server_id: int | None = None,
    resume: str = "position",
    **engine: Any,
) -> CdcEngine:
    """A :class:`~strom.cdc.engine.CdcEngine` capturing ``tables`` of ``source`` into ``to``.

    Args:
        source: ``postgresql://user:pw@host:port/db`` or ``mysql://...`` / ``mariadb://...``.
        tables: ``schema.table`` names (``database.table`` on MySQL), a list or a comma list.
        to: the output log: ``kafka://...`` or ``local://...``.
        prefix: Debezium's ``topic.prefix``: topics are ``prefix.schema.table``.
        name: the capture's name (stored position key, default slot name); default ``prefix``.
        snapshot, missing_key: see :class:`~strom.cdc.source.SourceSettings`.
        slot, publication, create_publication: PostgreSQL's replication slot (default
            ``strom_<name>``) and publication (default: the slot's name).
        server_id, resume: MySQL's replica id and resume mode (``position`` or ``gtid``).
        **engine: further :class:`~strom.cdc.engine.EngineSettings` fields.
    """
    settings = SourceSettings(split_tables(tables), snapshot=snapshot, missing_key=missing_key)
    capture_name = name or prefix
    src = open_source(
        source,
        settings,
        name=capture_name,
        slot=slot,
        publication=publication,
        create_publication=create_publication,
        server_id=server_id,
        resume=resume,
    )
    unknown = set(engine) - set(EngineSettings.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"cdc: unknown setting(s) {', '.join(sorted(unknown))}")
    options: Mapping[str, Any] = engine
    return CdcEngine(src, to, EngineSettings(prefix, name=capture_name, **options))
