"""Per-request counters and latency histograms for the Flask services.

A WSGI middleware placed outermost, so every answer is counted: those of the app, but also the
registry's cached reads, 401s from authentication and 413s from the body limit, which never reach
Flask. The endpoint label is the URL rule (`/subjects/<subject>/versions`), never the raw path,
so the number of series stays bounded whatever clients send; a path no rule matches is
`<unmatched>`.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from werkzeug.exceptions import HTTPException

from http_metrics.exposition import METRICS_PATH

UNMATCHED = "<unmatched>"
# Methods outside these are one label value, so a client inventing methods adds no series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class RequestMetrics:
    """`<prefix>_requests_total{method,endpoint,status}` and
    `<prefix>_request_duration_seconds{method,endpoint}`; latency is measured until the app has
    returned its body iterable (a streamed body's transfer is not included)."""

    def __init__(self, app, url_map, registry: CollectorRegistry, prefix: str):
        self.app = app
        self.url_map = url_map
        self.requests = Counter(f"{prefix}_requests", "HTTP requests answered, by method, URL rule and status",
                                ("method", "endpoint", "status"), registry=registry)
        self.latency = Histogram(f"{prefix}_request_duration_seconds",
                                 "Time to answer an HTTP request, by method and URL rule",
                                 ("method", "endpoint"), registry=registry)
        self._children: dict[tuple[str, str, str], tuple] = {}

    def __call__(self, environ, start_response):
        start = time.perf_counter()
        status_holder = []

        def recording_start_response(status, headers, exc_info=None):
            status_holder.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording_start_response)
        finally:
            status = status_holder[-1].split(" ", 1)[0] if status_holder else "500"
            self._record(environ, status, time.perf_counter() - start)

    def _record(self, environ, status: str, elapsed: float) -> None:
        method = environ.get("REQUEST_METHOD", "")
        if method not in _METHODS:
            method = "other"
        endpoint = self._rule(environ)
        key = (method, endpoint, status)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds a tuple: once per series
            children = self._children[key] = (self.requests.labels(method, endpoint, status),
                                              self.latency.labels(method, endpoint))
        children[0].inc()
        children[1].observe(elapsed)

    def _rule(self, environ) -> str:
        if environ.get("PATH_INFO") == METRICS_PATH:  # answered by MetricsEndpoint, not by a rule
            return METRICS_PATH
        try:
            rule, _ = self.url_map.bind_to_environ(environ).match(return_rule=True)
        except HTTPException:  # 404, 405, or a redirect the app would answer
            return UNMATCHED
        return rule.rule

