"""`/metrics` in Prometheus' text format: a WSGI middleware for the HTTP services, and a server of
its own (a daemon thread) for the broker, whose event loop must never wait on a scrape.

Only `/metrics` answers; every other path is 404, so a mistyped scrape path is a clear error and
never reaches the service behind (nor crashes anything)."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

METRICS_PATH = "/metrics"


def _not_found(start_response) -> list[bytes]:
    body = b"Not Found: metrics are at /metrics\n"
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class MetricsEndpoint:
    """WSGI middleware: answers GET/HEAD /metrics from `registry`, passes everything else on."""

    def __init__(self, app, registry: CollectorRegistry):
        self.app = app
        self.exposition = make_wsgi_app(registry)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == METRICS_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return self.exposition(environ, start_response)
        return self.app(environ, start_response)


def metrics_only_app(registry: CollectorRegistry):
    """A WSGI app serving /metrics and 404 for any other path."""
    return MetricsEndpoint(lambda environ, start_response: _not_found(start_response), registry)


class _QuietHandler(WSGIRequestHandler):
    """Scrapes every few seconds would fill the service's log with access lines."""

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class MetricsServer:
    """`/metrics` on host:port, served by threads (a slow scraper delays no other)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int):
        self._server = make_server(host, port, metrics_only_app(registry), ThreadingWSGIServer,
                                   handler_class=_QuietHandler)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{METRICS_PATH}"

    def start(self) -> "MetricsServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def split_host_port(listen: str) -> tuple[str, int]:
    """'host:port' (IPv6 in brackets) -> (host, port); ValueError naming the text otherwise."""
    host, _, port = listen.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"a metrics listener is HOST:PORT, not {listen!r}")
    return host.strip("[]"), int(port)
