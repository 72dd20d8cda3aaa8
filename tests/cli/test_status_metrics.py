"""`schemabus status` against a platform started by `schemabus up`: the headline numbers it prints
from every service's /metrics match the traffic sent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.conftest import REPO, unique_topic, wait_until
from tests.registry.test_up import _start_up

PRODUCED = 25
COMMITTED = 10


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("status")
    proc, (broker_port, registry_port, rest_port), lines = _start_up(tmp)
    try:
        proc.lines = lines
        proc.urls = {"bootstrap": f"127.0.0.1:{broker_port}", "registry": f"http://127.0.0.1:{registry_port}",
                     "rest": f"http://127.0.0.1:{rest_port}", "connect": proc.connect_url}
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def traffic(platform):
    urls = platform.urls
    topic, group = unique_topic("status"), unique_topic("status-group")
    producer = Producer({"bootstrap.servers": urls["bootstrap"]})
    for i in range(PRODUCED):
        producer.produce(topic, b"x" * 50, partition=0)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": urls["bootstrap"], "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, 0, COMMITTED)], asynchronous=False)
    consumer.close()
    for subject, schema_type, schema in (
            ("status-a-value", "AVRO", '"string"'), ("status-b-value", "AVRO", '"long"'),
            ("status-c-value", "JSON", '{"type": "object"}')):
        answer = requests.post(f"{urls['registry']}/subjects/{subject}/versions", timeout=30,
                               json={"schema": schema, "schemaType": schema_type})
        assert answer.status_code == 200, answer.text
    assert requests.get(f"{urls['rest']}/topics", timeout=30).status_code == 200
    wait_until(lambda: requests.get(f"{urls['connect']}/health", timeout=10).status_code == 200, 60,
               "the Connect worker healthy")
    return topic, group


def status(platform, *extra: str) -> subprocess.CompletedProcess:
    urls = platform.urls
    return subprocess.run([sys.executable, "-m", "cli.main", "--log-level", "ERROR", "status",
                           "--bootstrap-server", urls["bootstrap"], "--registry-url", urls["registry"],
                           "--broker-metrics", platform.metrics_url, "--rest-url", urls["rest"],
                           "--connect-url", urls["connect"], *extra],
                          capture_output=True, text=True, timeout=90, cwd=REPO)


def test_up_prints_every_metrics_url(platform):
    line = next(line for line in platform.lines if line.startswith("schemabus up metrics:"))
    urls = platform.urls
    for url in (platform.metrics_url, f"{urls['registry']}/metrics", f"{urls['rest']}/metrics",
                f"{urls['connect']}/metrics"):
        assert url in line


def test_status_prints_the_headline_numbers(platform, traffic):
    topic, group = traffic
    result = status(platform)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "no metrics" not in out, out
    rows = [line.split() for line in out.splitlines()]
    # TOPIC PARTITIONS MESSAGES_IN BYTES_IN BYTES_OUT
    assert [topic, "1", str(PRODUCED)] in [row[:3] for row in rows], out
    # GROUP TOPIC PARTITION LAG
    assert [group, topic, "0", str(PRODUCED - COMMITTED)] in rows, out
    assert "under min ISR 0" in out
    assert "schemas AVRO 2, JSON 1, PROTOBUF 0; subjects 3; role leader" in out, out
    assert "connectors 0 (running 0, failed 0)" in out, out
    rest_line = next(line for line in out.splitlines() if "records produced" in line)
    assert int(rest_line.split("requests ")[1].split(";")[0]) >= 1


def test_status_as_json(platform, traffic):
    topic, group = traffic
    result = status(platform, "--output", "json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)["metrics"]
    broker = metrics["broker"]
    assert broker["messages_in"] >= PRODUCED and broker["bytes_in"] >= PRODUCED * 50
    assert broker["requests"]["Produce"] >= 1
    assert {"group": group, "topic": topic, "partition": 0, "lag": PRODUCED - COMMITTED} in broker["top_group_lags"]
    assert metrics["schema registry"]["schemas"] == {"AVRO": 2, "JSON": 1, "PROTOBUF": 0}
    assert metrics["schema registry"]["requests"] >= 3
    assert metrics["Kafka Connect"]["connectors"] == 0


def test_a_service_without_metrics_is_reported_not_fatal(platform, traffic):
    result = status(platform, "--connect-url", "http://127.0.0.1:9")
    assert result.returncode == 0, result.stderr
    assert "Kafka Connect http://127.0.0.1:9/metrics" in result.stdout and "no metrics" in result.stdout


def test_the_grafana_dashboard_and_prometheus_config_use_what_the_services_serve(platform, traffic):
    """docs/grafana-dashboard.json is valid JSON whose every metric is served by some service, and
    docs/prometheus.yml scrapes `schemabus up`'s default ports."""
    import re
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    served = set()
    urls = platform.urls
    for url in (platform.metrics_url, f"{urls['registry']}/metrics", f"{urls['rest']}/metrics",
                f"{urls['connect']}/metrics"):
        text = urllib.request.urlopen(url, timeout=30).read().decode()
        for family in text_string_to_metric_families(text):
            served.add(family.name)
            served.update(sample.name for sample in family.samples)
    dashboard = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\b(?:kafka|schema_registry)_[a-z_]+", expr)}
    assert used and len(dashboard["panels"]) >= 10
    missing = {name for name in used
               if name not in served and re.sub(r"_(total|bucket|count|sum)$", "", name) not in served}
    assert not missing, missing
    config = (REPO / "docs" / "prometheus.yml").read_text()
    for port in (9308, 8081, 8082, 8083):
        assert f'"127.0.0.1:{port}"' in config
