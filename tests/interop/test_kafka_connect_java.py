"""Apache Kafka's own Connect (Java, distributed mode) on our broker: two workers in one group,
FileStreamSource through the REST API, one worker killed with kill -9 while it runs the task; the
other takes the task over and every line of the file reaches the topic (issue 18 keeps this as
the reference the Python runtime is measured against)."""

from __future__ import annotations

import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

import pytest

from tests.conftest import BrokerProcess, free_port, unique_topic, wait_until
from tests.interop.kafka_connect import ConnectWorker

pytestmark = pytest.mark.slow

STRING = "org.apache.kafka.connect.storage.StringConverter"


def read_values(bootstrap: str, topic: str) -> list[str]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("reader"),
                         "enable.auto.commit": False})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, low)])
        values = []
        while len(values) < high - low:
            message = consumer.poll(10)
            assert message is not None and message.error() is None, message and message.error()
            values.append(message.value().decode())
        return values
    finally:
        consumer.close()


def test_kafka_connect_distributed_survives_a_worker_killed(tmp_path):
    broker = BrokerProcess(tmp_path / "data", {"group.initial.rebalance.delay.ms": "0"}).start()
    workers: list[ConnectWorker] = []
    try:
        config = {"bootstrap.servers": broker.bootstrap, "group.id": "connect-cluster",
                  "config.storage.topic": "connect-configs", "offset.storage.topic": "connect-offsets",
                  "status.storage.topic": "connect-status", "config.storage.replication.factor": "1",
                  "offset.storage.replication.factor": "1", "status.storage.replication.factor": "1",
                  "key.converter": STRING, "value.converter": STRING, "offset.flush.interval.ms": "500",
                  "scheduled.rebalance.max.delay.ms": "2000", "session.timeout.ms": "6000",
                  "heartbeat.interval.ms": "1000"}
        workers.append(ConnectWorker(tmp_path / "w1", free_port(), config).start())
        topic = unique_topic("connect-file")
        source = tmp_path / "in.txt"
        source.write_text("".join(f"line-{n}\n" for n in range(100)))
        created = requests.post(f"{workers[0].url}/connectors", json={"name": "file-source", "config": {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "file": str(source),
            "topic": topic, "tasks.max": "1"}}, timeout=60)
        assert created.status_code == 201, created.text
        wait_until(lambda: _count(broker.bootstrap, topic) >= 100, 90, "the first 100 lines in the topic")

        workers.append(ConnectWorker(tmp_path / "w2", free_port(), config).start())
        status = wait_until(lambda: _running(workers[1]), 90, "the connector and its task RUNNING")
        task_worker = status["tasks"][0]["worker_id"]
        doomed = next(w for w in workers if task_worker.endswith(f":{w.port}"))
        survivor = next(w for w in workers if w is not doomed)
        doomed.kill()

        with source.open("a") as out:
            out.write("".join(f"line-{n}\n" for n in range(100, 200)))
        moved = wait_until(lambda: (s := _running(survivor)) and
                           s["tasks"][0]["worker_id"].endswith(f":{survivor.port}") and s, 120,
                           "the task to move to the surviving worker")
        assert moved["connector"]["worker_id"].endswith(f":{survivor.port}")
        wait_until(lambda: _count(broker.bootstrap, topic) >= 200, 90, "the appended lines in the topic")
        values = read_values(broker.bootstrap, topic)
        # At least once: lines after the last offset flush before the kill may come twice.
        assert set(values) == {f"line-{n}" for n in range(200)}
        assert values[:100] == [f"line-{n}" for n in range(100)]

        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for internal in ("connect-configs", "connect-offsets", "connect-status"):
            resource = ConfigResource(ConfigResource.Type.TOPIC, internal)
            configs = admin.describe_configs([resource])[resource].result(30)
            assert configs["cleanup.policy"].value == "compact", internal
    finally:
        for worker in workers:
            worker.stop()
        broker.stop()


def _count(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "counter"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return high - low
    except Exception:  # the topic is not there yet
        return 0
    finally:
        consumer.close()


def _running(worker: ConnectWorker) -> dict | None:
    try:
        answer = requests.get(f"{worker.url}/connectors/file-source/status", timeout=10)
    except requests.RequestException:
        return None
    if answer.status_code != 200:
        return None
    status = answer.json()
    tasks = status.get("tasks") or []
    if status["connector"]["state"] == "RUNNING" and tasks and tasks[0]["state"] == "RUNNING":
        return status
    return None
