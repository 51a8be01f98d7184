"""The ops endpoint answered over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from strom.errors import ConfigError
from strom.log import TopicPartition
from strom.ops import Health, Metrics, OpsServer


def get(url: str, accept: str | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_serves_metrics_health_and_ready_on_loopback() -> None:
    metrics, health = Metrics("shop"), Health()
    metrics.step("price").processed(records_in=42, records_out=40, seconds=0.01)
    with OpsServer(metrics, health, port=0) as server:
        assert server.host == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}"

        status, content_type, body = get(server.url + "/metrics")
        assert status == 200
        assert content_type.startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        (sample,) = [s for s in families["strom_records_in"].samples if s.name.endswith("_total")]
        assert (sample.labels, sample.value) == ({"app": "shop", "step": "price"}, 42)

        status, _, body = get(server.url + "/health")
        assert (status, json.loads(body)["alive"]) == (200, True)

        status, content_type, body = get(server.url + "/ready")
        assert (status, content_type) == (503, "application/json")
        assert json.loads(body)["state"] == "starting"

        health.running()
        health.assigned([TopicPartition("orders", 0)])
        status, _, body = get(server.url + "/ready")
        assert status == 503
        assert json.loads(body)["restoring"] == ["orders-0"]

        health.restored([TopicPartition("orders", 0)])
        status, _, body = get(server.url + "/ready")
        assert (status, json.loads(body)["ready"]) == (200, True)

        health.failed(RuntimeError("boom"))
        status, _, body = get(server.url + "/health")
        assert (status, json.loads(body)["error"]) == (503, "RuntimeError: boom")


def test_metrics_values_follow_updates_between_scrapes() -> None:
    metrics = Metrics("shop")
    step = metrics.step("s")
    with OpsServer(metrics, Health()) as server:
        for expected in (10, 20, 30):
            step.processed(records_in=10, records_out=10)
            _, _, body = get(server.url + "/metrics")
            line = f'strom_records_in_total{{app="shop",step="s"}} {float(expected)}'
            assert line in body.decode().splitlines()


def test_openmetrics_when_asked() -> None:
    with OpsServer(Metrics("shop"), Health()) as server:
        status, content_type, body = get(
            server.url + "/metrics", accept="application/openmetrics-text; version=1.0.0"
        )
    assert status == 200
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_unknown_path_is_404_with_hint() -> None:
    with OpsServer(Metrics("shop"), Health()) as server:
        status, _, body = get(server.url + "/nope")
    assert status == 404
    assert "/metrics" in json.loads(body)["error"]


def test_close_releases_the_port() -> None:
    server = OpsServer(Metrics("shop"), Health()).start()
    port = server.port
    server.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
    again = OpsServer(Metrics("shop"), Health(), port=port).start()  # rebinding works
    try:
        assert get(again.url + "/health")[0] == 200
    finally:
        again.close()
    again.close()  # closing twice is harmless


def test_busy_port_is_a_config_error_naming_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            OpsServer(Metrics("shop"), Health(), port=port).start()


def test_port_out_of_range_and_not_started() -> None:
    with pytest.raises(ConfigError, match="out of range"):
        OpsServer(Metrics("shop"), Health(), port=70000)
    with pytest.raises(ConfigError, match="not started"):
        _ = OpsServer(Metrics("shop"), Health()).port
