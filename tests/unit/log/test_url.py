"""Log URL parsing: valid forms, and a clear ConfigError for each malformed one."""

from __future__ import annotations

import pytest

import strom.log
from strom.errors import ConfigError
from strom.log.url import default_url, parse_url


def test_kafka_url_with_several_brokers_and_settings() -> None:
    parsed = parse_url("kafka://k1:9092, k2:9093?security.protocol=SASL_SSL&sasl.mechanism=PLAIN")
    assert parsed.scheme == "kafka"
    assert parsed.location == "k1:9092,k2:9093"
    assert parsed.options == {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}


def test_ipv6_broker_address() -> None:
    assert parse_url("kafka://[::1]:9092").location == "[::1]:9092"


def test_local_url_keeps_relative_and_absolute_paths() -> None:
    assert parse_url("local://./data").location == "./data"
    assert parse_url("local:///var/lib/strom").location == "/var/lib/strom"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("127.0.0.1:9092", "malformed"),
        ("kafak://h:1", "unknown scheme 'kafak'"),
        ("kafka://", "names no broker"),
        ("kafka://host", "is not 'host:port'"),
        ("kafka://host:99999", "out of range"),
        ("kafka://a:1,,b:2", "names no broker"),
        ("local://", "names no directory"),
    ],
)
def test_malformed_urls_name_the_problem(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        strom.log.connect(url)


def test_default_url_prefers_broker_env_then_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STROM_BROKER", raising=False)
    monkeypatch.delenv("STROM_HOME", raising=False)
    assert default_url() == "local://./.strom"
    monkeypatch.setenv("STROM_HOME", "/tmp/x")
    assert default_url() == "local:///tmp/x"
    monkeypatch.setenv("STROM_BROKER", "kafka://h:1")
    assert default_url() == "kafka://h:1"
