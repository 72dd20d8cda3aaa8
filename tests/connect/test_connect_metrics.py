"""Kafka Connect's /metrics: connector status and task counts, and request counters, checked
against connectors created through the REST API of a standalone worker."""

from __future__ import annotations

import pytest

from tests.conftest import unique_topic
from tests.connect.test_worker_rest import FAILING_PLUGIN
from tests.connect.worker_process import ConnectWorker, all_running, wait_for
from tests.metrics_scrape import scrape, status_of, total, value

WORKER = "kafka_connect_connect_worker_metrics"


@pytest.fixture(scope="module")
def worker(shared_broker, tmp_path_factory):
    work = tmp_path_factory.mktemp("connect-metrics")
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / "exploding.py").write_text(FAILING_PLUGIN)
    w = ConnectWorker(work, shared_broker.bootstrap, mode="standalone", props={"plugin.path": str(plugins)})
    w.start()
    yield w
    w.stop()


def test_connector_status_and_task_counts(worker, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("a\nb\n")
    worker.create("metrics-fs", {"connector.class": "FileStreamSource", "file": str(source),
                                 "topic": unique_topic("connect-metrics")})
    worker.create("metrics-boom", {"connector.class": "exploding.ExplodingSourceConnector"})
    wait_for(lambda: all_running(worker, "metrics-fs", 1), 60, "metrics-fs running")
    wait_for(lambda: [s for _, s, _ in worker.states("metrics-boom")[1]] == ["FAILED"], 60,
             "metrics-boom's task failed")

    samples = scrape(worker.url + "/metrics")
    assert value(samples, "kafka_connect_connector_status", connector="metrics-fs", type="source",
                 status="running") == 1
    assert value(samples, f"{WORKER}_connector_count") == 2
    assert value(samples, f"{WORKER}_task_count") == 2
    assert value(samples, f"{WORKER}_connector_running_task_count", connector="metrics-fs") == 1
    assert value(samples, f"{WORKER}_connector_failed_task_count", connector="metrics-boom") == 1
    assert value(samples, f"{WORKER}_connector_failed_task_count", connector="metrics-fs") == 0
    assert value(samples, "kafka_connect_requests_total", method="POST", endpoint="/connectors", status=201) == 2
    assert total(samples, "kafka_connect_requests_total", method="GET",
                 endpoint="/connectors/<name>/status") >= 2


def test_unknown_paths_are_404_and_the_worker_goes_on(worker):
    for path in ("/metrics/x", "/metricsx", "/no/such/path"):
        assert status_of(worker.url + path) == 404, path
    samples = scrape(worker.url + "/metrics")
    assert total(samples, "kafka_connect_requests_total", endpoint="<unmatched>", status=404) >= 3
    assert worker.get("/").status_code == 200
