"""The broker's Prometheus endpoint: counts checked against known traffic from real clients."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import BrokerProcess, free_port, unique_topic, wait_until
from tests.metrics_scrape import scrape, status_of, value

PER_PARTITION = (30, 20)  # records produced to partitions 0 and 1
COMMITTED = (12, 5)  # offsets the group commits
PAYLOAD = b"v" * 100


def _create_topic(broker, topic: str, partitions: int, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, partitions, config=config or {})])[topic].result(30)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    port = free_port()
    b = BrokerProcess(tmp_path_factory.mktemp("metrics") / "data",
                      {"schemabus.metrics.listen": f"127.0.0.1:{port}", "group.initial.rebalance.delay.ms": "0"})
    b.metrics_url = f"http://127.0.0.1:{port}/metrics"
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def traffic(broker):
    """A two-partition topic with known records, consumed and committed by a known group."""
    topic, group = unique_topic("metrics"), unique_topic("metrics-group")
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    _create_topic(broker, topic, 2)
    for partition, count in enumerate(PER_PARTITION):
        for i in range(count):
            producer.produce(topic, PAYLOAD, key=str(i).encode(), partition=partition)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    got = 0
    while got < sum(PER_PARTITION):
        got += len(consumer.consume(100, 5))
    consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in enumerate(COMMITTED)], asynchronous=False)
    consumer.close()
    return topic, group


def test_messages_and_bytes_in_match_what_was_produced(broker, traffic):
    topic, _ = traffic
    samples = scrape(broker.metrics_url)
    assert value(samples, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == sum(PER_PARTITION)
    assert value(samples, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic) >= \
        sum(PER_PARTITION) * len(PAYLOAD)
    # The consumer read every record: at least their payload went out.
    assert value(samples, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic) >= \
        sum(PER_PARTITION) * len(PAYLOAD)


def test_request_counts_and_latency_per_api(broker, traffic):
    samples = scrape(broker.metrics_url)
    for api in ("Produce", "Fetch", "Metadata", "OffsetCommit", "ApiVersions"):
        assert value(samples, "kafka_network_requestmetrics_requests_total", request=api) > 0, api
        assert value(samples, "kafka_network_requestmetrics_totaltimems_count", request=api) > 0, api
        assert value(samples, "kafka_network_requestmetrics_totaltimems_bucket", request=api, le="+Inf") == \
            value(samples, "kafka_network_requestmetrics_totaltimems_count", request=api)


def test_partition_gauges_and_group_lag(broker, traffic):
    topic, group = traffic
    samples = scrape(broker.metrics_url)
    assert value(samples, "kafka_topic_partitions", topic=topic) == 2
    for partition, produced in enumerate(PER_PARTITION):
        assert value(samples, "kafka_topic_partition_current_offset", topic=topic, partition=partition) == produced
        assert value(samples, "kafka_topic_partition_oldest_offset", topic=topic, partition=partition) == 0
        assert value(samples, "kafka_log_log_size", topic=topic, partition=partition) > produced * len(PAYLOAD)
        assert value(samples, "kafka_consumergroup_current_offset", consumergroup=group, topic=topic,
                     partition=partition) == COMMITTED[partition]
        assert value(samples, "kafka_consumergroup_lag", consumergroup=group, topic=topic,
                     partition=partition) == produced - COMMITTED[partition]
    assert value(samples, "kafka_server_replicamanager_underminisrpartitioncount") == 0
    assert value(samples, "kafka_server_replicamanager_partitioncount") >= 2


def test_under_min_isr_counts_topics_asking_for_more_replicas_than_one(broker):
    topic = unique_topic("min-isr")
    _create_topic(broker, topic, 3, {"min.insync.replicas": "2"})
    wait_until(lambda: value(scrape(broker.metrics_url), "kafka_topic_partitions", topic=topic) == 3, 10,
               "the new topic is scraped")
    assert value(scrape(broker.metrics_url), "kafka_server_replicamanager_underminisrpartitioncount") == 3


def test_other_paths_are_404_and_the_broker_goes_on(broker, traffic):
    base = broker.metrics_url.rsplit("/", 1)[0]
    for path in ("/", "/metricsx", "/metrics/x", "/../../etc/passwd", "/%ff%00", "/favicon.ico"):
        assert status_of(base + path) == 404, path
    assert status_of(broker.metrics_url, method="POST") == 404
    assert broker.alive()
    assert value(scrape(broker.metrics_url), "kafka_brokers") == 1


def test_the_bare_broker_serves_no_metrics_by_default(broker_factory):
    b = broker_factory()
    assert "metrics at" not in b.log_text()
