"""The operations HTTP endpoint: ``/metrics``, ``/health`` and ``/ready``.

Off by default; when an application enables it, it binds to ``127.0.0.1`` unless told another
host (exposing metrics beyond the machine is a deliberate choice). Port 0 picks a free port;
:attr:`OpsServer.port` tells which. Requests are served by a background thread per request
(stdlib :class:`~http.server.ThreadingHTTPServer`), never by the processing loop.

=============  =================================================================================
path           answer
=============  =================================================================================
``/metrics``   Prometheus text format (OpenMetrics when the scraper asks for it)
``/health``    200 ``{"alive": true, ...}`` while alive, else 503 with the error
``/ready``     200 when running with every assigned partition restored, else 503 with a reason
``/stores``    queryable state (see :mod:`strom.runtime.queries`), when the application has
               stateful steps
=============  =================================================================================

Example:
    >>> import urllib.request
    >>> from strom.ops.health import Health
    >>> from strom.ops.metrics import Metrics
    >>> health = Health()
    >>> with OpsServer(Metrics("demo"), health, port=0) as server:
    ...     urllib.request.urlopen(server.url + "/health").status
    200
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import orjson
from prometheus_client.exposition import choose_encoder

from strom.errors import ConfigError
from strom.ops.health import Health
from strom.ops.metrics import Metrics

DEFAULT_HOST = "127.0.0.1"

QueryHandler = Callable[[str, dict[str, str]], tuple[int, Any]]
"""Answers ``GET /stores...``: (path, query parameters) -> (HTTP status, JSON-able body)."""

_log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(HTTPStatus.OK, encoder(self.server.metrics.registry), content_type)
        elif path in ("/health", "/healthz", "/live"):
            status = self.server.health.liveness()
            self._json(HTTPStatus.OK if status.ready else HTTPStatus.SERVICE_UNAVAILABLE, status)
        elif path in ("/ready", "/readyz"):
            status = self.server.health.readiness()
            self._json(HTTPStatus.OK if status.ready else HTTPStatus.SERVICE_UNAVAILABLE, status)
        elif path.startswith("/stores") and self.server.queries is not None:
            query = self.path.split("?", 1)[1] if "?" in self.path else ""
            params = dict(urllib.parse.parse_qsl(query))
            code, answer = self.server.queries(path, params)
            self._send(HTTPStatus(code), orjson.dumps(answer), "application/json")
        else:
            body = {"error": f"no such path {path!r}; try /metrics, /health or /ready"}
            self._send(HTTPStatus.NOT_FOUND, orjson.dumps(body), "application/json")

    def _json(self, code: HTTPStatus, status: Any) -> None:
        self._send(code, orjson.dumps(status.reason), "application/json")

    def _send(self, code: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # The stdlib writes every request to stderr; scrapes every few seconds are noise.
        _log.debug("ops endpoint: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Rebinding a fixed port right after a restart must not fail on TIME_WAIT sockets.
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], metrics: Metrics, health: Health) -> None:
        self.metrics = metrics
        self.health = health
        self.queries: QueryHandler | None = None
        super().__init__(address, _Handler)


class OpsServer:
    """Serves ``/metrics``, ``/health`` and ``/ready`` from a background thread.

    Args:
        metrics: the application's metrics.
        health: the application's health state.
        host: interface to bind (``127.0.0.1`` by default; ``0.0.0.0`` exposes it).
        port: TCP port; 0 picks a free one.

    Use as a context manager, or call :meth:`start` and :meth:`close`.
    """

    def __init__(
        self, metrics: Metrics, health: Health, *, host: str = DEFAULT_HOST, port: int = 0
    ) -> None:
        if not 0 <= port < 65536:
            raise ConfigError(f"ops endpoint port {port} is out of range 0..65535")
        self._metrics = metrics
        self._health = health
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._queries: QueryHandler | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked)."""
        if self._server is None:
            raise ConfigError("the ops endpoint is not started: call start() first")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """The bound interface."""
        return self._host

    @property
    def url(self) -> str:
        """``http://host:port`` of the running endpoint."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> OpsServer:
        """Bind and start serving; raises ConfigError when the address is unusable."""
        if self._server is not None:
            return self
        try:
            server = _Server((self._host, self._port), self._metrics, self._health)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve the ops endpoint on {self._host}:{self._port}: {exc}; choose "
                "another port (0 picks a free one) or host"
            ) from exc
        server.queries = self._queries
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"strom-ops-{self._metrics.app}",
            daemon=True,
        )
        self._thread.start()
        _log.info("ops endpoint serving on %s", self.url)
        return self

    def serve_queries(self, handler: QueryHandler) -> None:
        """Answer ``/stores...`` with ``handler`` (the runtime's queryable state)."""
        self._queries = handler
        if self._server is not None:
            self._server.queries = handler

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> OpsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
