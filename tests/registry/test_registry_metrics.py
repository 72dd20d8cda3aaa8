"""The registry's /metrics: schema counts by format and request counters checked against known
requests, on a registry with its own schemas topic (so its counts are exactly ours)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.metrics_scrape import scrape, status_of, total, value
from tests.registry.conftest import RegistryProcess, record_schema

REGISTER = "/subjects/<subject:subject>/versions"
BY_ID = "/schemas/ids/<int:schema_id>"
SCHEMAS = {  # subject -> (schemaType, schema)
    "avro-a-value": ("AVRO", json.dumps(record_schema("A"))),
    "avro-b-value": ("AVRO", json.dumps(record_schema("B"))),
    "avro-c-value": ("AVRO", json.dumps(record_schema("C"))),
    "json-a-value": ("JSON", json.dumps({"type": "object", "properties": {"a": {"type": "string"}}})),
    "json-b-value": ("JSON", json.dumps({"type": "object", "properties": {"b": {"type": "integer"}}})),
    "proto-a-value": ("PROTOBUF", 'syntax = "proto3"; message A { string a = 1; }'),
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory, registry_broker):
    reg = RegistryProcess(registry_broker.bootstrap, tmp_path_factory.mktemp("registry-metrics")).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def registered(registry):
    ids = {}
    for subject, (schema_type, schema) in SCHEMAS.items():
        answer = registry.register(subject, schema, schemaType=schema_type)
        assert answer.status_code == 200, answer.text
        ids[subject] = answer.json()["id"]
    return ids


def test_schema_counts_by_format_and_the_leader_role(registry, registered):
    samples = scrape(registry.url + "/metrics")
    assert value(samples, "schema_registry_schemas", type="AVRO") == 3
    assert value(samples, "schema_registry_schemas", type="JSON") == 2
    assert value(samples, "schema_registry_schemas", type="PROTOBUF") == 1
    assert value(samples, "schema_registry_subjects") == len(SCHEMAS)
    assert value(samples, "schema_registry_master_slave_role") == 1


def test_requests_are_counted_by_url_rule_including_cached_reads(registry, registered):
    schema_id = registered["avro-a-value"]
    before = scrape(registry.url + "/metrics")
    reads = 3  # the second and third are answered by the read cache, in front of Flask
    for _ in range(reads):
        assert registry.call("GET", f"/schemas/ids/{schema_id}").status_code == 200
    assert registry.call("GET", "/schemas/ids/999999").status_code == 404
    samples = scrape(registry.url + "/metrics")
    # Every subject registered under the one rule, never a series per subject.
    assert value(samples, "schema_registry_requests_total", method="POST", endpoint=REGISTER,
                 status=200) == len(SCHEMAS)
    assert not [labels for labels, _ in samples["schema_registry_requests_total"] if "avro-a" in labels["endpoint"]]

    def reads_of(s, status):
        return total(s, "schema_registry_requests_total", method="GET", endpoint=BY_ID, status=status)
    assert reads_of(samples, 200) - reads_of(before, 200) == reads
    assert reads_of(samples, 404) - reads_of(before, 404) == 1
    assert value(samples, "schema_registry_request_duration_seconds_count", method="POST",
                 endpoint=REGISTER) == len(SCHEMAS)


def test_unknown_paths_are_404_counted_under_one_label_and_the_registry_goes_on(registry, registered):
    for path in ("/metrics/x", "/metricsx", "/no/such/path", "/%ff"):
        assert status_of(registry.url + path) == 404, path
    assert status_of(registry.url + "/metrics", method="POST") in (404, 405)
    samples = scrape(registry.url + "/metrics")
    assert total(samples, "schema_registry_requests_total", endpoint="<unmatched>", status=404) >= 4
    assert requests.get(registry.url + "/subjects", timeout=10).status_code == 200
