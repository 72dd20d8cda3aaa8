"""The REST Proxy's /metrics: request counters and record counts checked against known traffic."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from tests.conftest import BrokerProcess, unique_topic
from tests.metrics_scrape import scrape, status_of, total, value
from tests.rest.conftest import RestProcess
from tests.rest.test_v2_consumers import BINARY, V2, call, read_all
from tests.rest.test_v2_topics import create_topic

RECORDS = 7


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    work = tmp_path_factory.mktemp("rest-metrics")
    broker = BrokerProcess(work / "data", {"num.partitions": "1", "group.initial.rebalance.delay.ms": "0"}).start()
    try:
        rest = RestProcess(work, broker.bootstrap).start()
        try:
            yield rest
        finally:
            rest.stop()
    finally:
        broker.stop()


def test_produced_and_consumed_records_and_request_counts(proxy):
    topic = unique_topic("rest-metrics")
    create_topic(proxy.bootstrap, topic, 1)
    body = {"records": [{"value": base64.b64encode(b"r%d" % i).decode()} for i in range(RECORDS)]}
    produced = requests.post(f"{proxy.url}/topics/{topic}", data=json.dumps(body), timeout=60,
                             headers={"Content-Type": BINARY, "Accept": V2})
    assert produced.status_code == 200, produced.text
    group = unique_topic("rest-metrics-group")
    assert call(proxy, "POST", f"/consumers/{group}", {"name": "c1", "format": "binary",
                                                        "auto.offset.reset": "earliest"}).status_code == 200
    base = f"/consumers/{group}/instances/c1"
    assert call(proxy, "POST", base + "/subscription", {"topics": [topic]}).status_code == 204
    assert len(read_all(proxy, base, RECORDS, BINARY)) == RECORDS

    samples = scrape(proxy.url + "/metrics")
    assert value(samples, "kafka_rest_produced_records_total", api="v2") == RECORDS
    assert value(samples, "kafka_rest_consumed_records_total", api="v2") == RECORDS
    assert value(samples, "kafka_rest_requests_total", method="POST", endpoint="/topics/<topic>", status=200) == 1
    assert value(samples, "kafka_rest_requests_total", method="POST", endpoint="/consumers/<group>",
                 status=200) == 1
    assert total(samples, "kafka_rest_requests_total", method="GET",
                 endpoint="/consumers/<group>/instances/<name>/records") >= 1
    assert value(samples, "kafka_rest_request_duration_seconds_count", method="POST", endpoint="/topics/<topic>") == 1


def test_unknown_paths_are_404_and_the_proxy_goes_on(proxy):
    for path in ("/metrics/x", "/metricsx", "/no/such/path"):
        assert status_of(proxy.url + path) == 404, path
    samples = scrape(proxy.url + "/metrics")
    assert total(samples, "kafka_rest_requests_total", endpoint="<unmatched>", status=404) >= 3
    assert requests.get(proxy.url + "/topics", timeout=30).status_code == 200
