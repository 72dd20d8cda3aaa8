"""One Connect cluster of Apache Kafka's Java worker and our Python worker: same group, same
internal topics. The Java worker leads; connectors created through the Python worker are
forwarded to it, the Python worker publishes its connector's task configs to the Java leader
with a signed internal request (KIP-507), work runs on both; after kill -9 of the Java worker
the Python worker takes the leadership and all the work, and every line still arrives."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import BrokerProcess, free_port, unique_topic
from tests.connect.worker_process import ConnectWorker, all_running, wait_for
from tests.interop.kafka_connect import ConnectWorker as JavaWorker

pytestmark = pytest.mark.slow

STRING = "org.apache.kafka.connect.storage.StringConverter"


def lines_in(path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def test_java_and_python_workers_share_one_cluster(tmp_path):
    broker = BrokerProcess(tmp_path / "data", {"group.initial.rebalance.delay.ms": "0"}).start()
    group = "mixed"
    config = {"group.id": group, "config.storage.topic": f"{group}-configs",
              "offset.storage.topic": f"{group}-offsets", "status.storage.topic": f"{group}-status",
              "config.storage.replication.factor": "1", "offset.storage.replication.factor": "1",
              "status.storage.replication.factor": "1", "offset.storage.partitions": "5",
              "status.storage.partitions": "3", "key.converter": STRING, "value.converter": STRING,
              "offset.flush.interval.ms": "500", "scheduled.rebalance.max.delay.ms": "2000",
              "session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}
    java = python = None
    try:
        java = JavaWorker(tmp_path / "java", free_port(), {"bootstrap.servers": broker.bootstrap, **config}).start()
        python = ConnectWorker(tmp_path / "python", broker.bootstrap, group=group, props=config).start()
        python.wait_ready()
        topic = unique_topic("mixed-lines")
        source_file, sink_file = tmp_path / "in.txt", tmp_path / "out.txt"
        source_file.write_text("".join(f"line-{i}\n" for i in range(300)))
        python.create("src", {"connector.class": "FileStreamSource", "file": str(source_file), "topic": topic})
        python.create("snk", {"connector.class": "FileStreamSink", "file": str(sink_file), "topics": topic,
                              "tasks.max": "2"})

        def everything_running(worker_url):
            body = requests.get(f"{worker_url}/connectors?expand=status", timeout=10).json()
            states = [s["status"]["connector"]["state"] for s in body.values()]
            states += [t["state"] for s in body.values() for t in s["status"]["tasks"]]
            return len(body) == 2 and len(states) == 5 and set(states) == {"RUNNING"}
        wait_for(lambda: everything_running(java.url) and everything_running(python.url), 90,
                 "both connectors and 3 tasks RUNNING as both workers see them")
        wait_for(lambda: len(lines_in(sink_file)) >= 300, 60, "300 lines through the mixed cluster")
        owners = {t["worker_id"] for s in python.get("/connectors?expand=status").json().values()
                  for t in [s["status"]["connector"], *s["status"]["tasks"]]}
        assert len(owners) == 2, f"work on both workers, not only {owners}"

        java.kill()
        with source_file.open("a") as f:
            f.write("".join(f"line-{i}\n" for i in range(300, 600)))
        wait_for(lambda: all_running(python, "src", 1) and all_running(python, "snk", 2) and
                 {w for _, _, w in python.states("src")[1] + python.states("snk")[1]} ==
                 {python.url.removeprefix("http://")}, 90, "all the work on the Python worker")
        wait_for(lambda: set(lines_in(sink_file)) == {f"line-{i}" for i in range(600)}, 90,
                 "all 600 lines after the Java worker died")
    finally:
        for worker in (python, java):
            if worker is not None:
                worker.stop()
        broker.stop()
