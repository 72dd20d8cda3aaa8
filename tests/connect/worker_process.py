"""A Python Connect worker (`schemabus connect standalone|distributed`) in a subprocess, and a
small REST client for it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests
from confluent_kafka import Consumer, TopicPartition

from tests.conftest import ServiceProcess, free_port


class ConnectWorker(ServiceProcess):
    def __init__(self, work_dir: Path, bootstrap: str, mode: str = "distributed", props: dict | None = None,
                 connector_files: list[str] | None = None, group: str = "connect-test"):
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.mode = mode
        self.connector_files = list(connector_files or [])
        base = {"bootstrap.servers": bootstrap, "listeners": f"http://127.0.0.1:{self.port}",
                "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                "value.converter": "org.apache.kafka.connect.storage.StringConverter",
                "offset.flush.interval.ms": "1000",
                # librdkafka's 45 s default would make a dead sink task's partitions wait that long
                "consumer.session.timeout.ms": "6000", "consumer.heartbeat.interval.ms": "1000"}
        if mode == "distributed":
            base.update({"group.id": group, "config.storage.topic": f"{group}-configs",
                         "offset.storage.topic": f"{group}-offsets", "status.storage.topic": f"{group}-status",
                         "config.storage.replication.factor": "1", "offset.storage.replication.factor": "1",
                         "status.storage.replication.factor": "1", "offset.storage.partitions": "5",
                         "status.storage.partitions": "3", "scheduled.rebalance.max.delay.ms": "2000",
                         "session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"})
        else:
            base["offset.storage.file.filename"] = str(self.work_dir / "offsets.json")
        base.update(props or {})
        self.props_path = self.work_dir / f"worker-{self.port}.properties"
        self.props_path.write_text("".join(f"{k}={v}\n" for k, v in base.items()))
        self.log_path = self.work_dir / f"worker-{self.port}.log"
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli.main", "connect", self.mode, str(self.props_path), *self.connector_files]

    # -- REST ------------------------------------------------------------------------------------

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kw)

    def post(self, path: str, body=None, **kw) -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=30, **kw)

    def put(self, path: str, body=None, **kw) -> requests.Response:
        return requests.put(self.url + path, json=body, timeout=30, **kw)

    def patch(self, path: str, body=None, **kw) -> requests.Response:
        return requests.patch(self.url + path, json=body, timeout=30, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return requests.delete(self.url + path, timeout=30, **kw)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the herder answers /health as healthy (distributed: it joined its group)."""
        wait_for(lambda: self.get("/health").status_code == 200, timeout, f"worker {self.url} healthy")

    def create(self, name: str, config: dict, timeout: float = 60.0) -> dict:
        """POST /connectors, retried while the cluster is still forming (409 without a leader)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.post("/connectors", {"name": name, "config": config})
            if r.status_code == 201:
                return r.json()
            if r.status_code != 409 or time.monotonic() > deadline or "already exists" in r.text:
                raise AssertionError(f"creating {name}: {r.status_code} {r.text}")
            time.sleep(0.5)

    def states(self, name: str) -> tuple[str | None, list[tuple[int, str, str]]]:
        r = self.get(f"/connectors/{name}/status")
        if r.status_code != 200:
            return None, []
        body = r.json()
        return body["connector"]["state"], [(t["id"], t["state"], t["worker_id"]) for t in body["tasks"]]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except (requests.RequestException, ValueError, KeyError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" ({last_error})" if last_error else ""))


def all_running(worker: ConnectWorker, name: str, tasks: int) -> bool:
    state, task_states = worker.states(name)
    return state == "RUNNING" and len(task_states) == tasks and all(s == "RUNNING" for _, s, _ in task_states)


def read_topic(bootstrap: str, topic: str, timeout: float = 10.0) -> list:
    """Every record of a topic, from the start of each partition to its end now."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    out, deadline = [], time.monotonic() + timeout
    positions = {p: 0 for p in partitions}
    while any(positions[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            out.append(msg)
            positions[msg.partition()] = msg.offset() + 1
    consumer.close()
    return out
