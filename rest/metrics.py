"""The REST Proxy's Prometheus metrics, at /metrics on the proxy's own listener.

`kafka_rest_requests_total{method,endpoint,status}` and `kafka_rest_request_duration_seconds`
for every answer (http_metrics, outermost, so 401s from authentication count too), and the
records that went through: `kafka_rest_produced_records_total{api}` (v2 produce, v3
records:batch) and `kafka_rest_consumed_records_total{api}` (v2 consumer instances' records),
counted once per request from the length of the list already built, never per record. The v3
streamed produce and the v3 record reader are not counted (their records pass one at a time).

/metrics is behind the proxy's authentication when it has one (as every other path, so a
scraper authenticates like any client); it holds URL rules, status codes and counts, never
topics, principals or credentials.
"""

from __future__ import annotations

from flask import current_app
from prometheus_client import CollectorRegistry, Counter

from http_metrics.exposition import MetricsEndpoint
from http_metrics.requests import RequestMetrics

CONFIG_KEY = "METRICS"


class RestMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.produced = Counter("kafka_rest_produced_records", "Records acknowledged by Kafka, by API version",
                                ("api",), registry=self.registry)
        self.consumed = Counter("kafka_rest_consumed_records", "Records returned to consumers, by API version",
                                ("api",), registry=self.registry)

    def serve(self, app) -> None:
        """/metrics answered in front of the Flask app (inside the security middleware)."""
        app.config[CONFIG_KEY] = self
        app.wsgi_app = MetricsEndpoint(app.wsgi_app, self.registry)

    def count(self, app) -> None:
        """Every answer counted: wraps the whole WSGI stack, security included."""
        app.wsgi_app = RequestMetrics(app.wsgi_app, app.url_map, self.registry, "kafka_rest")


def count_produced(api: str, records: int) -> None:
    metrics = current_app.config.get(CONFIG_KEY)
    if metrics is not None and records:
        metrics.produced.labels(api).inc(records)


def count_consumed(api: str, records: int) -> None:
    metrics = current_app.config.get(CONFIG_KEY)
    if metrics is not None and records:
        metrics.consumed.labels(api).inc(records)
