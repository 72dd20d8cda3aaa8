"""The REST Proxy's v3 OpenAPI document (rest/openapi/v3.yaml, served at /v3/openapi.yaml) checked
against the running proxy with schemathesis: every operation gets generated requests (the
document's examples, its coverage cases, valid and invalid, and a bounded number of fuzzed ones,
from a fixed seed) and no answer may be a 5xx, nor differ from the document's response schema.

The cluster id is always the real one (a random id only ever reaches the 404 of the cluster check);
the fixture creates the topic, records and consumer group the document's examples name (topic-1,
consumer-group-1), so those requests reach real data.

Kept from the run, so it stays deterministic (and the fixture's data stays in place):
- DELETE /clusters/{cluster_id}/topics/{topic_name} deletes only a topic made for it (the
  document's example, topic-1, would otherwise vanish halfway through the run);
- GET .../topics/{topic_name}/records reads with timeout_ms of at most 200 (a generated -1 is a live
  tail that never ends, a large one waits that long for records that never come).
Nothing else is excluded."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from importlib import resources

import pytest
import requests
import schemathesis
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from hypothesis import settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

DOCUMENT = resources.files("rest").joinpath("openapi/v3.yaml")
TIMEOUT = 15
TOPIC = "topic-1"           # the document's example topic_name
GROUP = "consumer-group-1"  # the document's example consumer_group_id
DOOMED = "doomed-topic"     # what DELETE topic deletes
MAX_EXAMPLES = 10           # fuzzed requests per operation (examples and coverage cases come on top)
SEED = 20261203

CONFIG = {
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": "all"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
               "stateful": {"enabled": False}},
    "request-timeout": TIMEOUT,
    "output": {"sanitization": {"enabled": False}},  # failures show the request as it was sent
}


@pytest.fixture(scope="module")
def data(platform):
    """The proxy's cluster id, with the example topic (1 partition, which the PATCH example makes 2;
    a few records), a consumer group with committed offsets on it, and the topic DELETE may delete."""
    broker, rest, _ = platform
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for name in (TOPIC, DOOMED):
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(TIMEOUT)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(6):
        producer.produce(TOPIC, f'{{"n": {i}}}'.encode(), f"k{i}".encode(), headers=[("h", b"v")])
    assert producer.flush(TIMEOUT) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": GROUP, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([TOPIC])
    got, deadline = 0, time.monotonic() + TIMEOUT
    while got < 3 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got += 1
    assert got == 3
    consumer.commit(asynchronous=False)
    consumer.close()
    clusters = requests.get(f"{rest.url}/v3/clusters", timeout=TIMEOUT).json()
    return rest, clusters["data"][0]["cluster_id"]


@schemathesis.deserializer("application/x-ndjson")
def ndjson_lines(ctx, response) -> list:
    """The consume extension's stream as the document describes it: the list of its lines."""
    return [json.loads(line) for line in response.content.decode().splitlines() if line.strip()]


# The document as the proxy ships and serves it (test_document_is_served checks they are the same).
schema = schemathesis.openapi.from_path(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))


@schema.parametrize()
@settings(deadline=timedelta(seconds=2 * TIMEOUT))
def test_v3_api_matches_its_openapi_document(case, data):
    rest, cluster_id = data
    case.path_parameters = {**(case.path_parameters or {}), "cluster_id": cluster_id}
    if case.method == "DELETE" and case.path == "/clusters/{cluster_id}/topics/{topic_name}":
        case.path_parameters["topic_name"] = DOOMED
    if case.method == "GET" and case.path.endswith("/records"):
        timeout_ms = (case.query or {}).get("timeout_ms")
        if not isinstance(timeout_ms, int) or not 0 <= timeout_ms <= 200:
            case.query = {**(case.query or {}), "timeout_ms": 200}
    response = case.call(base_url=f"{rest.url}/v3")
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def test_document_is_served(data):
    rest, _ = data
    answer = requests.get(f"{rest.url}/v3/openapi.yaml", timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/yaml")
    assert answer.content == DOCUMENT.read_bytes()
