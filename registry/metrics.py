"""The registry's Prometheus metrics, served at /metrics on the registry's own listeners.

Confluent's registry publishes JMX beans (`kafka.schema.registry:type=master-slave-role`,
`registered-count`, per-format `*-schemas-created`); here they are Prometheus names:
`schema_registry_requests_total{method,endpoint,status}` and
`schema_registry_request_duration_seconds{method,endpoint}` for every answer (http_metrics),
`schema_registry_schemas{type}` (distinct schema ids by format), `schema_registry_subjects`,
and `schema_registry_master_slave_role` (1 on the elected writer, 0 on a follower). The gauges are
read from the registry's state when scraped; nothing is counted per schema on the request path.

/metrics sits behind the registry's authentication (authentication.method=BASIC): any user with
one of authentication.roles may read it, no ACL is needed (its routes are not an operation on a
subject). It names no subjects, users or settings, only formats, URL rules and status codes.
It sits in front of the read cache, whose answers are keyed by path and would go stale.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from http_metrics.exposition import MetricsEndpoint
from http_metrics.requests import RequestMetrics
from registry.state import RegistryState

FORMATS = ("AVRO", "PROTOBUF", "JSON")


class RegistryStateCollector(Collector):
    def __init__(self, state: RegistryState, election_of):
        self.state = state
        self.election_of = election_of  # the election is made after the app: looked up when scraped

    def collect(self):
        counts = dict.fromkeys(FORMATS, 0)
        with self.state.lock:
            for content in self.state.contents.values():
                counts[content.schema_type] = counts.get(content.schema_type, 0) + 1
            subjects = sum(1 for versions in self.state.subjects.values()
                           if any(not v.deleted for v in versions.values()))
        schemas = GaugeMetricFamily("schema_registry_schemas", "Distinct schema ids, by format", labels=("type",))
        for schema_type, count in sorted(counts.items()):
            schemas.add_metric((schema_type,), count)
        yield schemas
        yield GaugeMetricFamily("schema_registry_subjects", "Subjects with at least one live version",
                                value=subjects)
        election = self.election_of()
        yield GaugeMetricFamily("schema_registry_master_slave_role",
                                "1 when this instance is the elected writer (leader), else 0",
                                value=1 if election is not None and election.is_leader() else 0)


class RegistryMetrics:
    """The metrics of one registry server."""

    def __init__(self, state: RegistryState, election_of):
        self.registry = CollectorRegistry()
        self.registry.register(RegistryStateCollector(state, election_of))

    def serve(self, wsgi):
        """/metrics answered in front of `wsgi` (the read cache and the app)."""
        return MetricsEndpoint(wsgi, self.registry)

    def count(self, wsgi, url_map):
        """Every answer of `wsgi` counted: put outermost, so 401s and 413s count too."""
        return RequestMetrics(wsgi, url_map, self.registry, "schema_registry")
