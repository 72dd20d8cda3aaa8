"""Three distributed Python Connect workers in one group: connectors created through any worker
(followers forward to the leader), work spread over the workers, kill -9 of a worker moves its
work to the others and the source resumes from its stored offset without losing a line; the
internal topics hold Apache Kafka's keys and JSON values. On our broker and on Apache Kafka."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import unique_topic
from tests.connect.worker_process import ConnectWorker, all_running, read_topic, wait_for


def lines_in(path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


@pytest.fixture(params=["schemabus", pytest.param("apache-kafka", marks=pytest.mark.slow)])
def cluster_broker(request):
    return request.getfixturevalue("shared_broker" if request.param == "schemabus" else "apache_kafka")


def test_three_workers_share_work_and_survive_kill_9(cluster_broker, tmp_path):
    bootstrap = cluster_broker.bootstrap
    group = unique_topic("cluster")
    workers = [ConnectWorker(tmp_path / f"w{i}", bootstrap, group=group) for i in range(3)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.wait_ready()
        topic = unique_topic("lines")
        admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: a dropped client fails its futures
        admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(10)
        source_file, sink_file = tmp_path / "in.txt", tmp_path / "out.txt"
        source_file.write_text("".join(f"line-{i}\n" for i in range(1000)))

        created = workers[2].create("src", {"connector.class": "FileStreamSource", "file": str(source_file),
                                            "topic": topic})
        assert created["name"] == "src"
        workers[1].create("sink", {"connector.class": "FileStreamSink", "file": str(sink_file), "topics": topic,
                                   "tasks.max": "3"})
        wait_for(lambda: all_running(workers[0], "src", 1) and all_running(workers[0], "sink", 3), 60,
                 "both connectors and their 4 tasks RUNNING")
        wait_for(lambda: len(lines_in(sink_file)) >= 1000, 60, "the first 1000 lines in the sink file")
        owners = {worker for _, _, worker in workers[0].states("sink")[1]} | {workers[0].states("src")[1][0][2]}
        assert len(owners) >= 2, f"work should be spread over the workers, all on {owners}"
        # Every worker answers from its own view of the status topic, active topics included.
        for w in workers:
            assert w.get("/connectors").json() == ["sink", "src"]
            wait_for(lambda: w.get("/connectors/src/topics").json() == {"src": {"topics": [topic]}}, 30,
                     "src's active topic seen by every worker")

        # A restart through any worker: the leader writes the request, each owner restarts its part.
        r = workers[2].post("/connectors/sink/restart?includeTasks=true&onlyFailed=true")
        assert r.status_code == 202, r.text
        assert [t["state"] for t in r.json()["tasks"]] == ["RUNNING"] * 3  # none failed: none restarts
        assert r.json()["connector"]["state"] == "RUNNING"
        r = workers[2].post("/connectors/sink/restart?includeTasks=true")
        assert r.status_code == 202, r.text
        assert r.json()["connector"]["state"] == "RESTARTING"
        assert [t["state"] for t in r.json()["tasks"]] == ["RESTARTING"] * 3
        wait_for(lambda: all_running(workers[0], "sink", 3), 60, "the sink and its 3 tasks RUNNING after the restart")

        # The internal topics, as Apache Kafka's tools would read them.
        configs = {m.key().decode(): m.value() for m in read_topic(bootstrap, f"{group}-configs")}
        assert json.loads(configs["connector-src"])["properties"]["file"] == str(source_file)
        assert json.loads(configs["task-src-0"])["properties"]["task.class"].endswith("FileStreamSourceTask")
        assert json.loads(configs["commit-sink"]) == {"tasks": 3}
        assert set(json.loads(configs["session-key"])) == {"key", "algorithm", "creation-timestamp"}
        statuses = {m.key().decode(): json.loads(m.value()) for m in read_topic(bootstrap, f"{group}-status")
                    if m.value() is not None}
        assert statuses["status-task-src-0"]["state"] in ("RUNNING", "UNASSIGNED")
        assert set(statuses["status-connector-sink"]) == {"state", "trace", "worker_id", "generation"}
        assert statuses[f"status-topic-{topic}:connector-src"]["topic"]["name"] == topic
        offsets = [(m.key(), m.value()) for m in read_topic(bootstrap, f"{group}-offsets")]
        assert offsets and offsets[-1][0] == json.dumps(["src", {"filename": str(source_file)}],
                                                        separators=(",", ":")).encode()

        # kill -9 the worker that runs the source task; its work moves and the source resumes.
        victim_id = workers[0].states("src")[1][0][2]
        victim = next(w for w in workers if w.url == f"http://{victim_id}")
        survivors = [w for w in workers if w is not victim]
        victim.kill()
        with source_file.open("a") as f:
            f.write("".join(f"line-{i}\n" for i in range(1000, 2000)))

        def moved():
            _, src_tasks = survivors[0].states("src")
            _, sink_tasks = survivors[0].states("sink")
            tasks = src_tasks + sink_tasks
            return len(tasks) == 4 and all(s == "RUNNING" and w != victim_id for _, s, w in tasks)
        wait_for(moved, 90, "every task RUNNING on a surviving worker")
        wait_for(lambda: set(lines_in(sink_file)) >= {f"line-{i}" for i in range(2000)}, 90,
                 "all 2000 lines in the sink file")
        # At least once: a line may repeat after the crash, none is lost or invented.
        assert set(lines_in(sink_file)) == {f"line-{i}" for i in range(2000)}
        assert survivors[1].delete("/connectors/src").status_code == 204
        wait_for(lambda: survivors[0].get("/connectors").json() == ["sink"], 30, "src deleted everywhere")
    finally:
        for w in workers:
            w.stop()


def read_committed_values(bootstrap: str, topic: str) -> list[bytes]:
    """The topic's records as a read_committed consumer sees them, up to the last stable offset."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "eos-reader", "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    try:
        while True:
            msg = consumer.poll(5)
            if msg is None or msg.error():
                return values
            values.append(msg.value())
    finally:
        consumer.close()


def test_exactly_once_source_survives_kill_9(shared_broker, tmp_path):
    """KIP-618: records and their source offsets commit in one transaction, so after kill -9 of the
    worker mid-stream a read_committed consumer sees every line exactly once."""
    group = unique_topic("eos")
    workers = [ConnectWorker(tmp_path / f"w{i}", shared_broker.bootstrap, group=group,
                             props={"exactly.once.source.support": "enabled"}) for i in range(2)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.wait_ready()
        topic = unique_topic("eos-lines")
        source_file = tmp_path / "in.txt"
        source_file.write_text("".join(f"line-{i}\n" for i in range(2000)))
        r = workers[0].post("/connectors", {"name": "bad", "config": {
            "connector.class": "FileStreamSource", "topic": topic, "exactly.once.support": "required"}})
        assert r.status_code == 400 and "exactly-once" in r.json()["message"]  # stdin: not supported
        workers[0].create("src", {"connector.class": "FileStreamSource", "file": str(source_file), "topic": topic,
                                  "exactly.once.support": "required", "batch.size": "100"})
        wait_for(lambda: all_running(workers[0], "src", 1), 60, "src RUNNING")
        wait_for(lambda: len(read_committed_values(shared_broker.bootstrap, topic)) >= 2000, 60, "the first lines")
        owner = workers[0].states("src")[1][0][2]
        victim = next(w for w in workers if w.url.endswith(owner.split(":")[1]))
        survivor = next(w for w in workers if w is not victim)
        with source_file.open("a") as f:
            f.write("".join(f"line-{i}\n" for i in range(2000, 60000)))
        wait_for(lambda: len(read_committed_values(shared_broker.bootstrap, topic)) > 2500, 60, "streaming again")
        victim.kill()
        wait_for(lambda: all_running(survivor, "src", 1) and survivor.states("src")[1][0][2] != owner, 90,
                 "the task on the surviving worker")
        wait_for(lambda: len(read_committed_values(shared_broker.bootstrap, topic)) >= 60000, 120,
                 "60000 committed records", interval=1.0)
        values = read_committed_values(shared_broker.bootstrap, topic)
        assert values == [f"line-{i}".encode() for i in range(60000)]  # once each, in order
    finally:
        for w in workers:
            w.stop()
