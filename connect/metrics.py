"""Kafka Connect's Prometheus metrics, at /metrics on the worker's REST port.

`kafka_connect_requests_total{method,endpoint,status}` and
`kafka_connect_request_duration_seconds` for the REST API (http_metrics), and, read from the
herder when scraped, the names the usual jmx_exporter rules give Connect's JMX beans:
`kafka_connect_connector_status{connector,type,status}` (1 for the connector's current state),
`kafka_connect_connect_worker_metrics_connector_count`, `..._task_count`, and per connector
`..._connector_running_task_count` / `..._connector_failed_task_count`. Counts are of the
cluster's connectors as this worker sees them (one worker under `schemabus up`).

No authentication, as the rest of Connect's REST API here.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from http_metrics.exposition import MetricsEndpoint
from http_metrics.requests import RequestMetrics

log = logging.getLogger("connect.metrics")
WORKER = "kafka_connect_connect_worker_metrics"


class ConnectorCollector(Collector):
    def __init__(self, herder):
        self.herder = herder

    def _statuses(self) -> list[dict]:
        out = []
        for name in sorted(self.herder.snapshot().connector_configs):
            try:
                out.append(self.herder.connector_status(name))
            except Exception:  # deleted meanwhile, or no status written yet
                continue
        return out

    def collect(self):
        try:
            statuses = self._statuses()
        except Exception as exc:  # the herder is starting or stopping: nothing to report yet
            log.debug("metrics scrape without connector statuses: %s", exc)
            statuses = []
        status = GaugeMetricFamily("kafka_connect_connector_status", "1 for the connector's current state",
                                   labels=("connector", "type", "status"))
        running = GaugeMetricFamily(f"{WORKER}_connector_running_task_count", "Running tasks of a connector",
                                    labels=("connector",))
        failed = GaugeMetricFamily(f"{WORKER}_connector_failed_task_count", "Failed tasks of a connector",
                                   labels=("connector",))
        tasks = 0
        for s in statuses:
            name = s["name"]
            status.add_metric((name, str(s.get("type") or "unknown"), s["connector"]["state"].lower()), 1)
            states = [t["state"] for t in s["tasks"]]
            tasks += len(states)
            running.add_metric((name,), states.count("RUNNING"))
            failed.add_metric((name,), states.count("FAILED"))
        yield status
        yield running
        yield failed
        yield GaugeMetricFamily(f"{WORKER}_connector_count", "Connectors", value=len(statuses))
        yield GaugeMetricFamily(f"{WORKER}_task_count", "Tasks", value=tasks)


def install(app, herder) -> None:
    """/metrics and the per-request metrics around the Connect REST app."""
    registry = CollectorRegistry()
    registry.register(ConnectorCollector(herder))
    app.wsgi_app = RequestMetrics(MetricsEndpoint(app.wsgi_app, registry), app.url_map, registry, "kafka_connect")
