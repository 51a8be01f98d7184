"""Building a capture: URLs, names and settings are checked before anything connects."""

from __future__ import annotations

from pathlib import Path

import pytest

from strom.cdc import EngineSettings, SourceSettings, capture
from strom.cdc.capture import default_slot
from strom.cdc.mysql import MySqlSource
from strom.cdc.postgres import PostgresSource
from strom.errors import ConfigError


def test_sources_by_scheme(tmp_path: Path) -> None:
    pg = capture("postgres://u@h/db", "public.a, public.b", to=f"local://{tmp_path}", prefix="p")
    assert isinstance(pg.source, PostgresSource)
    assert (pg.source.slot, pg.source.publication, pg.source.database) == (
        "strom_p",
        "strom_p",
        "db",
    )
    assert pg.source.settings.tables == ("public.a", "public.b")
    my = capture("mariadb://u:pw@h:3307/shop", ["shop.a"], to=f"local://{tmp_path}", prefix="m",
                 resume="gtid", server_id=77)  # fmt: skip
    assert isinstance(my.source, MySqlSource)
    assert (my.source.server_id, my.source.resume, my.source.database) == (77, "gtid", "shop")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: capture("mongodb://h/db", "a.b", to=p, prefix="x"), "postgresql://, mysql://"),
        (lambda p: capture("postgresql://h/db", "orders", to=p, prefix="x"), "schema.table"),
        (lambda p: capture("postgresql://h/db", "", to=p, prefix="x"), "at least one table"),
        (lambda p: capture("postgresql://h/db", "a.b", to=p, prefix="x", slot="Bad-Slot"),
         "slot name 'Bad-Slot'"),
        (lambda p: capture("postgresql://h/db", "a.b", to=p, prefix="x", lingr=1),
         "unknown setting"),
        (lambda p: capture("mysql://h/db", "a.b", to=p, prefix="x", resume="lsn"), "resume"),
        (lambda p: capture("postgresql://h/db", "a.b", to=p, prefix="a b"), "prefix"),
    ],
)  # fmt: skip
def test_bad_settings_are_named(call: object, match: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=match):
        call(f"local://{tmp_path}")  # type: ignore[operator]


def test_settings_validation() -> None:
    with pytest.raises(ConfigError, match="missing_key"):
        SourceSettings(("a.b",), missing_key="skip")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="heartbeat_interval"):
        EngineSettings("p", heartbeat_interval=0)
    assert default_slot("Orders-Feed.v2") == "strom_orders_feed_v2"
