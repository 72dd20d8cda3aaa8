"""A standalone Python Connect worker on our broker, driven through Kafka Connect's REST API:
the FileStream pipeline, the API's shapes and status codes, per-field validation errors, bad
input, and a task that raises (FAILED with its trace, the worker stays up)."""

from __future__ import annotations

import textwrap
import time

import pytest
import requests

from tests.conftest import unique_topic
from tests.connect.worker_process import ConnectWorker, all_running, read_topic, wait_for

FAILING_PLUGIN = textwrap.dedent('''
    """A source connector whose task raises on its first poll (a test plugin on plugin.path)."""
    from connect.api import SourceConnector, SourceTask


    class ExplodingTask(SourceTask):
        def start(self, props):
            self.message = props.get("message", "boom")

        def poll(self):
            raise RuntimeError(self.message)


    class ExplodingSourceConnector(SourceConnector):
        def version(self):
            return "0.0.1"

        def start(self, props):
            self.props = props

        def task_class(self):
            return ExplodingTask

        def task_configs(self, max_tasks):
            return [dict(self.props)]
''')

SLOW_PLUGIN = textwrap.dedent('''
    """A source connector whose task's poll takes 3 s: it cannot stop within 1 s."""
    import time

    from connect.api import SourceConnector, SourceTask


    class SlowTask(SourceTask):
        def start(self, props):
            pass

        def poll(self):
            time.sleep(3)
            return []


    class SlowSourceConnector(SourceConnector):
        def version(self):
            return "0.0.1"

        def start(self, props):
            self.props = props

        def task_class(self):
            return SlowTask

        def task_configs(self, max_tasks):
            return [dict(self.props)]
''')


@pytest.fixture(scope="module")
def worker(shared_broker, tmp_path_factory):
    work = tmp_path_factory.mktemp("connect-standalone")
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / "exploding.py").write_text(FAILING_PLUGIN)
    (plugins / "slow.py").write_text(SLOW_PLUGIN)
    w = ConnectWorker(work, shared_broker.bootstrap, mode="standalone",
                      props={"plugin.path": str(plugins), "task.shutdown.graceful.timeout.ms": "1000"})
    w.start()
    yield w
    w.stop()


def lines_in(path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def test_root_health_and_plugins(worker):
    root = worker.get("/").json()
    assert root["version"] and root["kafka_cluster_id"]
    assert worker.get("/health").json()["status"] == "healthy"
    plugins = worker.get("/connector-plugins").json()
    classes = {p["class"]: p["type"] for p in plugins}
    assert classes["org.apache.kafka.connect.file.FileStreamSourceConnector"] == "source"
    assert classes["org.apache.kafka.connect.file.FileStreamSinkConnector"] == "sink"
    assert classes["exploding.ExplodingSourceConnector"] == "source"  # found on plugin.path
    everything = worker.get("/connector-plugins?connectorsOnly=false").json()
    assert {"converter", "header_converter"} <= {p["type"] for p in everything}
    config = worker.get("/connector-plugins/FileStreamSource/config").json()
    topic = next(k for k in config if k["name"] == "topic")
    assert topic["required"] is True and topic["type"] == "LIST" and topic["default_value"] is None


def test_file_stream_pipeline_and_offsets(worker, tmp_path):
    topic = unique_topic("fs")
    source_file, sink_file = tmp_path / "in.txt", tmp_path / "out.txt"
    source_file.write_text("".join(f"line-{i}\n" for i in range(500)))
    created = worker.create("fs-source", {"connector.class": "FileStreamSource", "file": str(source_file),
                                          "topic": topic})
    assert created["type"] == "source" and created["config"]["name"] == "fs-source"
    worker.create("fs-sink", {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                              "file": str(sink_file), "topics": topic})
    wait_for(lambda: len(lines_in(sink_file)) == 500, 60, "500 lines in the sink file")
    assert lines_in(sink_file) == [f"line-{i}" for i in range(500)]
    with source_file.open("a") as f:
        f.write("".join(f"line-{i}\n" for i in range(500, 600)))
    wait_for(lambda: len(lines_in(sink_file)) == 600, 60, "the appended lines")

    assert all_running(worker, "fs-source", 1) and all_running(worker, "fs-sink", 1)
    tasks = worker.get("/connectors/fs-source/tasks").json()
    assert tasks[0]["id"] == {"connector": "fs-source", "task": 0}
    assert tasks[0]["config"]["topic"] == topic
    assert tasks[0]["config"]["task.class"] == "org.apache.kafka.connect.file.FileStreamSourceTask"
    assert worker.get("/connectors/fs-sink/topics").json() == {"fs-sink": {"topics": [topic]}}

    size = source_file.stat().st_size
    wait_for(lambda: worker.get("/connectors/fs-source/offsets").json()["offsets"] ==
             [{"partition": {"filename": str(source_file)}, "offset": {"position": size}}], 30,
             "the source offset at the end of the file")
    wait_for(lambda: worker.get("/connectors/fs-sink/offsets").json()["offsets"] ==
             [{"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 600}}], 30,
             "the sink's committed offset")

    # KIP-875: offsets change only when the connector is stopped.
    r = worker.patch("/connectors/fs-source/offsets", {"offsets": [
        {"partition": {"filename": str(source_file)}, "offset": {"position": 0}}]})
    assert r.status_code == 400 and "STOPPED" in r.json()["message"]
    assert worker.put("/connectors/fs-source/stop").status_code == 204
    wait_for(lambda: worker.states("fs-source") == ("STOPPED", []), 30, "fs-source STOPPED")
    r = worker.patch("/connectors/fs-source/offsets", {"offsets": [
        {"partition": {"filename": str(source_file)}, "offset": {"position": 0}}]})
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "The offsets for this connector have been altered successfully"
    assert worker.put("/connectors/fs-source/resume").status_code == 202
    wait_for(lambda: len(lines_in(sink_file)) == 1200, 60, "the file read again from position 0")
    for name in ("fs-source", "fs-sink"):
        assert worker.delete(f"/connectors/{name}").status_code == 204
    assert worker.get("/connectors").json() == []


def test_validation_reports_errors_per_field(worker):
    r = worker.put("/connector-plugins/FileStreamSource/config/validate",
                   {"connector.class": "FileStreamSource", "tasks.max": "zero", "batch.size": "0"})
    assert r.status_code == 200
    body = r.json()
    errors = {c["value"]["name"]: c["value"]["errors"] for c in body["configs"] if c["value"]["errors"]}
    assert body["name"] == "FileStreamSource" and body["error_count"] == len(sum(errors.values(), []))
    assert errors["tasks.max"] == ["Invalid value zero for configuration tasks.max: Not a number of type INT"]
    assert errors["batch.size"] == ["Invalid value 0 for configuration batch.size: Value must be at least 1"]
    assert errors["topic"] == ['Missing required configuration "topic" which has no default value.']
    assert errors["name"] == ['Missing required configuration "name" which has no default value.']
    assert "Common" in body["groups"]

    sink = worker.put("/connector-plugins/FileStreamSink/config/validate",
                      {"connector.class": "FileStreamSink", "name": "s", "topics": "a", "topics.regex": "b.*"}).json()
    sink_errors = {c["value"]["name"]: c["value"]["errors"] for c in sink["configs"] if c["value"]["errors"]}
    assert "mutually exclusive" in sink_errors["topics"][0]

    r = worker.post("/connectors", {"name": "bad", "config": {"connector.class": "FileStreamSource"}})
    assert r.status_code == 400
    assert r.json()["message"].startswith("Connector configuration is invalid and contains the following 1 error(s):")
    assert 'Missing required configuration "topic"' in r.json()["message"]


def test_bad_requests_get_kafka_errors(worker, tmp_path):
    config = {"connector.class": "FileStreamSink", "file": str(tmp_path / "o.txt"), "topics": unique_topic("bad")}
    worker.create("dup", config)
    r = worker.post("/connectors", {"name": "dup", "config": config})
    assert r.status_code == 409 and r.json() == {"error_code": 409, "message": "Connector dup already exists"}
    r = worker.get("/connectors/nope")
    assert r.status_code == 404 and r.json() == {"error_code": 404, "message": "Connector nope not found"}
    assert worker.get("/connectors/nope/status").json()["error_code"] == 404
    r = requests.post(worker.url + "/connectors", data=b"{not json", headers={"Content-Type": "application/json"},
                      timeout=10)
    assert r.status_code == 400 and r.json()["error_code"] == 400
    r = worker.post("/connectors", {"name": "x", "config": {"connector.class": "NoSuchConnector"}})
    assert r.status_code == 400 and "NoSuchConnector" in r.json()["message"]
    r = worker.put("/connectors/dup/config", {**config, "name": "other"})
    assert r.status_code == 400 and "doesn't match connector name in the URL" in r.json()["message"]
    r = worker.put("/connector-plugins/FileStreamSource/config/validate", {"connector.class": "FileStreamSink"})
    assert r.status_code == 400 and "does not match request type" in r.json()["message"]
    r = worker.get("/no/such/path")
    assert r.status_code == 404 and r.json()["error_code"] == 404
    # PUT creates (201) then replaces (200); PATCH merges and a null removes a key.
    assert worker.put("/connectors/put-made/config", config).status_code == 201
    assert worker.put("/connectors/put-made/config", config).status_code == 200
    patched = worker.patch("/connectors/put-made/config", {"tasks.max": "2", "file": None})
    assert patched.status_code == 200 and patched.json()["config"]["tasks.max"] == "2"
    assert "file" not in patched.json()["config"]
    for name in ("dup", "put-made"):
        assert worker.delete(f"/connectors/{name}").status_code == 204
    assert worker.get("/").status_code == 200


def test_a_task_that_raises_is_failed_with_its_trace(worker):
    worker.create("exploding", {"connector.class": "exploding.ExplodingSourceConnector", "topic": "unused",
                                "message": "the disk is on fire"})

    def failed():
        state, tasks = worker.states("exploding")
        return tasks and tasks[0][1] == "FAILED" and state == "RUNNING"
    wait_for(failed, 30, "task FAILED")
    task = worker.get("/connectors/exploding/tasks/0/status").json()
    assert "RuntimeError: the disk is on fire" in task["trace"] and task["worker_id"]
    assert worker.get("/").status_code == 200  # the worker is still up

    r = worker.post("/connectors/exploding/restart?includeTasks=true&onlyFailed=true")
    assert r.status_code == 202
    body = r.json()
    assert body["connector"]["state"] == "RUNNING" and body["tasks"][0]["state"] == "RESTARTING"
    wait_for(failed, 30, "task FAILED again after the restart")
    assert worker.post("/connectors/exploding/tasks/0/restart").status_code == 204
    assert worker.post("/connectors/exploding/tasks/7/restart").status_code == 404
    assert worker.delete("/connectors/exploding").status_code == 204


def test_pause_resume_and_loggers(worker, tmp_path):
    topic = unique_topic("pause")
    worker.create("pausable", {"connector.class": "FileStreamSink", "file": str(tmp_path / "p.txt"), "topics": topic})
    wait_for(lambda: all_running(worker, "pausable", 1), 30, "pausable RUNNING")
    assert worker.put("/connectors/pausable/pause").status_code == 202
    wait_for(lambda: worker.states("pausable")[0] == "PAUSED" and worker.states("pausable")[1][0][1] == "PAUSED",
             30, "pausable PAUSED")
    assert worker.put("/connectors/pausable/resume").status_code == 202
    wait_for(lambda: all_running(worker, "pausable", 1), 30, "pausable RUNNING again")
    assert worker.delete("/connectors/pausable").status_code == 204

    assert worker.put("/admin/loggers/connect.worker", {"level": "DEBUG"}).json() == ["connect.worker"]
    assert worker.get("/admin/loggers/connect.worker").json()["level"] == "DEBUG"
    assert worker.get("/admin/loggers").json()["connect.worker"]["level"] == "DEBUG"
    assert worker.put("/admin/loggers/connect.worker", {"level": "LOUD"}).status_code == 404
    assert worker.put("/admin/loggers/connect.worker", {}).status_code == 400


def test_transforms_and_the_dead_letter_queue(worker, shared_broker, tmp_path):
    from confluent_kafka import Producer

    # Source side: RegexRouter renames the topic; InsertHeader adds a header.
    raw = unique_topic("events") + "-raw"
    source_file = tmp_path / "in.txt"
    source_file.write_text("a\nb\nc\n")
    worker.create("routed", {"connector.class": "FileStreamSource", "file": str(source_file), "topic": raw,
                             "transforms": "route,tag",
                             "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
                             "transforms.route.regex": "(.*)-raw", "transforms.route.replacement": "$1-routed",
                             "transforms.tag.type": "org.apache.kafka.connect.transforms.InsertHeader",
                             "transforms.tag.header": "origin", "transforms.tag.value.literal": "file"})
    routed = raw[: -len("-raw")] + "-routed"
    records = wait_for(lambda: len(read_topic(shared_broker.bootstrap, routed)) == 3 and
                       read_topic(shared_broker.bootstrap, routed), 60, "3 records in the routed topic")
    assert [m.value() for m in records] == [b"a", b"b", b"c"]
    assert records[0].headers() == [("origin", b"file")]

    # Sink side: JSON values, ExtractField; unparseable values skipped to the DLQ with context headers.
    topic, dlq = unique_topic("json-in"), unique_topic("dlq")
    producer = Producer({"bootstrap.servers": shared_broker.bootstrap})
    for value in (b'{"msg": "first", "n": 1}', b"{not json", b'{"msg": "second", "n": 2}'):
        producer.produce(topic, value=value, headers=[("trace", b"t-1")])
    producer.flush(10)
    sink_file = tmp_path / "out.txt"
    worker.create("json-sink", {
        "connector.class": "FileStreamSink", "file": str(sink_file), "topics": topic,
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        "transforms": "msg", "transforms.msg.type": "org.apache.kafka.connect.transforms.ExtractField$Value",
        "transforms.msg.field": "msg", "errors.tolerance": "all", "errors.log.enable": "true",
        "errors.deadletterqueue.topic.name": dlq, "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true"})
    wait_for(lambda: lines_in(sink_file) == ["first", "second"], 60, "the two good records in the sink file")
    dead = wait_for(lambda: read_topic(shared_broker.bootstrap, dlq), 60, "the bad record in the DLQ")
    assert len(dead) == 1 and dead[0].value() == b"{not json"
    headers = dict(dead[0].headers())
    assert headers["trace"] == b"t-1"  # the original headers stay
    assert headers["__connect.errors.topic"] == topic.encode()
    assert headers["__connect.errors.offset"] == b"1"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.connector.name"] == b"json-sink"
    assert headers["__connect.errors.class.name"] == b"org.apache.kafka.connect.json.JsonConverter"
    assert b"Converting byte[] to Kafka Connect data failed" in headers["__connect.errors.exception.message"]
    assert all_running(worker, "json-sink", 1)
    for name in ("routed", "json-sink"):
        assert worker.delete(f"/connectors/{name}").status_code == 204


def test_a_task_too_slow_to_stop_does_not_overwrite_its_replacements_state(worker):
    """Restarting a task that cannot stop within task.shutdown.graceful.timeout.ms: the old one
    is abandoned (Kafka's WorkerTask.cancel) and, when it ends at last, says nothing, so the
    replacement stays RUNNING."""
    worker.create("slow", {"connector.class": "slow.SlowSourceConnector", "topic": unique_topic("slow")})
    wait_for(lambda: all_running(worker, "slow", 1), 30, "the slow task RUNNING")
    r = worker.post("/connectors/slow/tasks/0/restart")
    assert r.status_code in (200, 202, 204), r.text
    time.sleep(4)  # the abandoned task's poll has returned and its thread has ended
    assert worker.get("/connectors/slow/tasks/0/status").json()["state"] == "RUNNING"
    assert "Graceful stop of task slow-0 failed" in worker.log_text()
    worker.delete("/connectors/slow")
