"""Kafka Connect throughput: our Python worker next to Apache Kafka's own Connect (Java), on one broker.

    python bench/connect.py [--records 100000] [--repeats 3] [--profile] [--write-docs]

Starts one `schemabus broker` (logging at WARNING, `group.initial.rebalance.delay.ms=0`), one
`schemabus registry`, a throwaway PostgreSQL server, and two distributed Connect workers, each the
only member of its own Connect group on that broker: ours (`python -m cli.main connect distributed`,
logging at WARNING) and Apache Kafka 4.1.1's `ConnectDistributed` (jars from Maven Central, the heap
and JVM flags of `bin/connect-distributed.sh`: `-Xms256M -Xmx2G` and G1, log4j root WARN). Both
workers use Kafka's shipped `connect-distributed.properties` converters (JsonConverter with
`schemas.enable=true`) and `offset.flush.interval.ms=1000`; every connector runs one task on a
1-partition topic created before the connector; nothing else is tuned, so each worker's
producer and consumer run with its own client defaults (librdkafka for ours, Kafka's Java
clients with Connect's overrides for Java).

Three cases, each on the same file of `--records` lines of 100 bytes (plus the newline):
1. **FileStreamSource -> topic -> FileStreamSink**, ours and Java's, with JsonConverter and with
   StringConverter (set on both connectors). The sink connector is created first and the clock starts
   once its consumer owns the topic's partition; then the source connector is created, and the run
   ends when the sink file holds every line (its size, polled every 10 ms). Also read from the same
   run: when the topic's end offset reached N (the source half, polled every 50 ms).
2. **FileStreamSource alone**: records/s from creating the connector until the topic's end offset is
   N, for ours with the AvroConverter (registry on the same machine, the schema registered by the
   first record), ours with JsonConverter, and Java with JsonConverter. Confluent's AvroConverter is
   not on Maven Central, so Java has no Avro row.
3. **JDBC sink**: a topic pre-filled once with N JsonConverter envelope records (`schemas.enable=true`)
   of a struct (id int64, name string, amount double), read by a new `JdbcSinkConnector` per run into
   a new table (`auto.create=true`): SQLite (a new file) and PostgreSQL (fsync off), with
   `insert.mode=insert, pk.mode=kafka` and `insert.mode=upsert, pk.mode=record_value, pk.fields=id`.
   The clock runs from creating the connector until the table has N rows (polled every 100 ms;
   SQLite by `max(rowid)`). Ours alone: Confluent's JDBC connector is not on Maven Central.

Each worker and each case is warmed up by an unmeasured run of N/10 records; runs alternate order
every round (A B, B A, ...), each measured `--repeats` times (>= 3) and reported as median
(min-max); the ratio is the median (min-max) of the paired rounds' ratios. Worker CPU per record is
the worker process's user + system time over the run, from /proc.
Not a test: nothing asserts timings.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import string
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import (SchemabusBroker, alternating, cpu_seconds, create_topics, delete_topics, free_port,  # noqa: E402
                           spread, summarize)
from tests.connect.postgres import PostgresServer  # noqa: E402
from tests.connect.worker_process import ConnectWorker as PythonWorkerProcess  # noqa: E402
from tests.interop.apache_kafka import KAFKA_JVM_PERFORMANCE_OPTS, _LOG4J2, maven_libs  # noqa: E402
from tests.interop.kafka_connect import _POM, CACHE, ConnectWorker as JavaWorkerProcess  # noqa: E402
from tests.registry.conftest import RegistryProcess  # noqa: E402

FLUSH_INTERVAL_MS = 1000
LINE_BYTES = 100
OURS, JAVA = "schemabus", "kafka"

JSON = "org.apache.kafka.connect.json.JsonConverter"
STRING = "org.apache.kafka.connect.storage.StringConverter"
AVRO = "io.confluent.connect.avro.AvroConverter"
FILE_SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"
FILE_SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
JDBC_SINK = "io.confluent.connect.jdbc.JdbcSinkConnector"

# Kafka's config/connect-distributed.properties: JSON with schemas for keys and values.
WORKER_CONVERTERS = {"key.converter": JSON, "value.converter": JSON, "key.converter.schemas.enable": "true",
                     "value.converter.schemas.enable": "true"}
CONVERTERS = {
    "json": {"key.converter": JSON, "value.converter": JSON, "key.converter.schemas.enable": "true",
             "value.converter.schemas.enable": "true"},
    "string": {"key.converter": STRING, "value.converter": STRING},
}
ORDER_SCHEMA = {"type": "struct", "optional": False, "name": "bench.Order", "fields": [
    {"field": "id", "type": "int64", "optional": False},
    {"field": "name", "type": "string", "optional": False},
    {"field": "amount", "type": "double", "optional": False}]}
JDBC_CASES = [("sqlite", "insert", "kafka"), ("sqlite", "upsert", "record_value"),
              ("postgresql", "insert", "kafka"), ("postgresql", "upsert", "record_value")]


# -- the two workers ----------------------------------------------------------------------------


class RestWorker:
    """What a run needs of a worker, whichever runtime: create, status, delete, its pid."""

    name: str
    url: str

    @property
    def pid(self) -> int:
        raise NotImplementedError

    def log_tail(self) -> str:
        raise NotImplementedError

    def create(self, name: str, config: dict, timeout: float = 120.0) -> None:
        """POST /connectors, retried while the worker's group is still forming (409)."""
        deadline = time.monotonic() + timeout
        while True:
            r = requests.post(f"{self.url}/connectors", json={"name": name, "config": config}, timeout=30)
            if r.status_code == 201:
                return
            if r.status_code != 409 or "already exists" in r.text or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: creating {name}: {r.status_code} {r.text[:500]}")
            time.sleep(0.2)

    def running(self, name: str) -> bool:
        r = requests.get(f"{self.url}/connectors/{name}/status", timeout=30)
        if r.status_code != 200:
            return False
        body = r.json()
        tasks = body.get("tasks") or []
        failed = [t for t in tasks if t["state"] == "FAILED"]
        if failed or body["connector"]["state"] == "FAILED":
            raise RuntimeError(f"{self.name}: {name} failed: {json.dumps(body)[:1500]}")
        return body["connector"]["state"] == "RUNNING" and bool(tasks) and all(t["state"] == "RUNNING" for t in tasks)

    def check(self, name: str) -> None:
        """Raise if the connector or a task failed (so a stuck run ends with the reason)."""
        self.running(name)

    def delete(self, name: str, timeout: float = 60.0) -> None:
        r = requests.delete(f"{self.url}/connectors/{name}", timeout=30)
        if r.status_code not in (204, 404):
            raise RuntimeError(f"{self.name}: deleting {name}: {r.status_code} {r.text[:300]}")
        deadline = time.monotonic() + timeout
        while requests.get(f"{self.url}/connectors/{name}", timeout=30).status_code != 404:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: {name} still listed {timeout}s after DELETE")
            time.sleep(0.1)


class OurWorker(RestWorker):
    name = OURS

    def __init__(self, work: Path, bootstrap: str):
        group = f"bench-connect-py-{uuid.uuid4().hex[:6]}"
        props = {**WORKER_CONVERTERS, "offset.flush.interval.ms": str(FLUSH_INTERVAL_MS),
                 "offset.storage.partitions": "25", "status.storage.partitions": "5"}

        class QuietWorker(PythonWorkerProcess):
            def command(self) -> list[str]:
                cmd = super().command()
                return cmd[:3] + ["--log-level", "WARNING"] + cmd[3:]

        self.process = QuietWorker(work / "py-worker", bootstrap, "distributed", props, group=group)
        self.url = self.process.url

    def start(self) -> "OurWorker":
        self.process.start(120)
        self.process.wait_ready(120)
        return self

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    def log_tail(self) -> str:
        return self.process.log_text()[-3000:]

    def stop(self) -> None:
        if self.process.proc is not None:
            self.process.stop(60)


class JavaWorker(RestWorker):
    """tests/interop/kafka_connect.py's worker, started with bin/connect-distributed.sh's JVM flags."""

    name = JAVA

    def __init__(self, work: Path, bootstrap: str):
        group = f"bench-connect-java-{uuid.uuid4().hex[:6]}"
        config = {"bootstrap.servers": bootstrap, "group.id": group, "config.storage.topic": f"{group}-configs",
                  "offset.storage.topic": f"{group}-offsets", "status.storage.topic": f"{group}-status",
                  "config.storage.replication.factor": "1", "offset.storage.replication.factor": "1",
                  "status.storage.replication.factor": "1", "offset.storage.partitions": "25",
                  "status.storage.partitions": "5", "offset.flush.interval.ms": str(FLUSH_INTERVAL_MS),
                  **WORKER_CONVERTERS}
        self.process = JavaWorkerProcess(work / "java-worker", free_port(), config)
        self.url = self.process.url

    def start(self, timeout: float = 180.0) -> "JavaWorker":
        p = self.process
        libs = maven_libs(CACHE, _POM)
        p.work_dir.mkdir(parents=True, exist_ok=True)
        (p.work_dir / "log4j2.xml").write_text(_LOG4J2)
        properties = p.work_dir / "worker.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in p.config.items()))
        # bin/connect-distributed.sh: KAFKA_HEAP_OPTS="-Xms256M -Xmx2G", then kafka-run-class.sh's flags.
        with open(p.work_dir / "worker.log", "ab") as log:
            p.proc = subprocess.Popen(
                ["java", "-Xms256M", "-Xmx2G", *KAFKA_JVM_PERFORMANCE_OPTS,
                 f"-Dlog4j2.configurationFile={p.work_dir / 'log4j2.xml'}", "-cp", f"{libs}/*",
                 "org.apache.kafka.connect.cli.ConnectDistributed", str(properties)],
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.proc.poll() is not None:
                raise RuntimeError(f"Java Connect worker exited with {p.proc.returncode}: {p.log()[-3000:]}")
            try:
                if requests.get(f"{p.url}/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Java Connect worker not ready within {timeout}s: {p.log()[-3000:]}")

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    def log_tail(self) -> str:
        return self.process.log()[-3000:]

    def stop(self) -> None:
        self.process.stop()


# -- the platform -------------------------------------------------------------------------------


class Platform:
    """Broker, registry, PostgreSQL and both workers; stop() ends whatever started."""

    def __init__(self, work: Path):
        self.work = work
        self.broker = self.registry = self.postgres = None
        self.workers: dict[str, RestWorker] = {}
        self.bootstrap = ""
        self.pg_database = "bench"

    def start(self) -> "Platform":
        self.broker = SchemabusBroker({"group.initial.rebalance.delay.ms": "0"}).start(self.work / "broker")
        self.bootstrap = self.broker.bootstrap
        self.registry = RegistryProcess(self.bootstrap, self.work).start(120)
        self.postgres = PostgresServer().start()
        self.postgres.create_database(self.pg_database)
        for worker in (OurWorker(self.work, self.bootstrap), JavaWorker(self.work, self.bootstrap)):
            self.workers[worker.name] = worker  # registered first: a failed start is still stopped
            worker.start()
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})
        self.watermarks = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "bench-connect-watermarks",
                                    "enable.auto.commit": False})
        return self

    def stop(self) -> None:
        if getattr(self, "watermarks", None) is not None:
            self.watermarks.close()
        for part in [*self.workers.values(), self.registry, self.postgres, self.broker]:
            if part is None:
                continue
            try:
                part.stop()
            except Exception as exc:  # noqa: BLE001 - stop the rest regardless
                print(f"stopping {type(part).__name__}: {exc}", file=sys.stderr)

    def topic(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        create_topics(self.bootstrap, [NewTopic(name, 1, 1)])
        return name

    def drop(self, topic: str) -> None:
        delete_topics(self.bootstrap, [topic])

    def end_offset(self, topic: str) -> int:
        return self.watermarks.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)[1]

    def group_owns(self, group: str, topic: str) -> bool:
        """A member of consumer group `group` has been assigned the topic's partition."""
        try:
            described = self.admin.describe_consumer_groups([group])[group].result(10)
        except Exception:  # noqa: BLE001 - not there yet
            return False
        return any(tp.topic == topic for m in described.members
                   for tp in (m.assignment.topic_partitions if m.assignment else []))


def wait_for(predicate, timeout: float, what: str, worker: RestWorker | None = None, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            tail = f"; worker log: {worker.log_tail()}" if worker is not None else ""
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
        time.sleep(interval)


def run_timeout(count: int) -> float:
    return 120 + count / 200  # generous: a stuck run fails instead of hanging


# -- input ----------------------------------------------------------------------------------------


def write_lines(path: Path, count: int) -> int:
    """`count` lines of LINE_BYTES ASCII characters (a number, then letters); returns the file size."""
    rng = random.Random(42)
    alphabet = string.ascii_letters + string.digits
    pool = ["".join(rng.choice(alphabet) for _ in range(LINE_BYTES)) for _ in range(256)]
    with open(path, "w") as out:
        for n in range(count):
            head = f"{n:09d} "
            out.write(head + pool[n % 256][len(head):] + "\n")
    return path.stat().st_size


def prefill_orders(bootstrap: str, topic: str, count: int) -> None:
    """JsonConverter envelopes (schemas.enable=true) of an Order struct, null keys."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    schema = json.dumps(ORDER_SCHEMA, separators=(",", ":"))
    for n in range(count):
        payload = json.dumps({"id": n, "name": f"customer-{n % 1000}", "amount": round(n * 0.37, 2)},
                             separators=(",", ":"))
        value = f'{{"schema":{schema},"payload":{payload}}}'.encode()
        while True:
            try:
                producer.produce(topic, value, partition=0)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(300):
        raise RuntimeError("pre-filling the JDBC topic: records not delivered")


# -- case 1: FileStreamSource -> topic -> FileStreamSink -----------------------------------------


def pipeline_run(p: Platform, worker: RestWorker, converter: str, source_file: Path, count: int,
                 size: int) -> dict[str, float]:
    topic = p.topic("bench-connect-file")
    tag = uuid.uuid4().hex[:8]
    sink_name, source_name = f"bench-sink-{tag}", f"bench-source-{tag}"
    sink_file = p.work / f"sink-{tag}.txt"
    sink_file.touch()
    created: list[str] = []
    try:
        worker.create(sink_name, {"connector.class": FILE_SINK, "tasks.max": "1", "topics": topic,
                                  "file": str(sink_file), **CONVERTERS[converter]})
        created.append(sink_name)
        wait_for(lambda: worker.running(sink_name) and p.group_owns(f"connect-{sink_name}", topic), 120,
                 f"{worker.name}'s sink to own {topic}", worker)
        cpu0, t0 = cpu_seconds(worker.pid), time.perf_counter()
        worker.create(source_name, {"connector.class": FILE_SOURCE, "tasks.max": "1", "topic": topic,
                                    "file": str(source_file), **CONVERTERS[converter]})
        created.append(source_name)
        source_done = sink_done = None
        deadline = time.monotonic() + run_timeout(count)
        next_offset_check = next_health_check = 0.0
        while sink_done is None:
            now = time.perf_counter()
            if source_done is None and now >= next_offset_check:
                if p.end_offset(topic) >= count:
                    source_done = time.perf_counter()
                next_offset_check = now + 0.05
            if sink_file.stat().st_size >= size:
                sink_done = time.perf_counter()
                break
            if now >= next_health_check:
                worker.check(sink_name)
                worker.check(source_name)
                next_health_check = now + 2.0
            if time.monotonic() > deadline:
                raise RuntimeError(f"{worker.name}: sink file at {sink_file.stat().st_size} of {size} bytes "
                                   f"after {run_timeout(count):.0f}s; log: {worker.log_tail()}")
            time.sleep(0.01)
        cpu = cpu_seconds(worker.pid) - cpu0
        if source_done is None:  # the sink finished between two offset checks
            source_done = sink_done
        if sink_file.stat().st_size != size:
            raise RuntimeError(f"{worker.name}: sink file has {sink_file.stat().st_size} bytes, expected {size}")
        return {"end-to-end records/s": count / (sink_done - t0),
                "source half records/s (topic end offset)": count / (source_done - t0),
                "worker CPU µs/record": cpu / count * 1e6}
    finally:
        for name in reversed(created):
            worker.delete(name)
        p.drop(topic)
        sink_file.unlink(missing_ok=True)


# -- case 2: FileStreamSource alone ---------------------------------------------------------------


def source_run(p: Platform, worker: RestWorker, converters: dict, source_file: Path, count: int) -> dict[str, float]:
    topic = p.topic("bench-connect-source")
    name = f"bench-source-{uuid.uuid4().hex[:8]}"
    created = False
    try:
        cpu0, t0 = cpu_seconds(worker.pid), time.perf_counter()
        worker.create(name, {"connector.class": FILE_SOURCE, "tasks.max": "1", "topic": topic,
                             "file": str(source_file), **converters})
        created = True
        deadline = time.monotonic() + run_timeout(count)
        next_health_check = 0.0
        while p.end_offset(topic) < count:
            now = time.perf_counter()
            if now >= next_health_check:
                worker.check(name)
                next_health_check = now + 2.0
            if time.monotonic() > deadline:
                raise RuntimeError(f"{worker.name}: {p.end_offset(topic)} of {count} records in {topic}; "
                                   f"log: {worker.log_tail()}")
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(worker.pid) - cpu0
        return {"records/s": count / elapsed, "worker CPU µs/record": cpu / count * 1e6}
    finally:
        if created:
            worker.delete(name)
        p.drop(topic)


SOURCE_PATHS = {
    "ours, AvroConverter": (OURS, "avro"),
    "ours, JsonConverter": (OURS, "json"),
    "Java, JsonConverter": (JAVA, "json"),
}


def source_converters(p: Platform, kind: str) -> dict:
    if kind == "avro":
        return {"key.converter": STRING, "value.converter": AVRO,
                "value.converter.schema.registry.url": p.registry.url}
    return CONVERTERS[kind]


# -- case 3: JDBC sink ----------------------------------------------------------------------------


class Table:
    """Where one JDBC run writes, and how many rows are there so far."""

    def __init__(self, p: Platform, backend: str):
        self.backend = backend
        self.name = f"bench_{uuid.uuid4().hex[:10]}"
        if backend == "sqlite":
            self.path = p.work / "jdbc" / f"{self.name}.db"
            self.path.parent.mkdir(exist_ok=True)
            self.url = f"jdbc:sqlite:{self.path}"
            self._sqlite = None
        else:
            import psycopg
            self.url = p.postgres.jdbc_url(p.pg_database)
            self._pg = psycopg.connect(host=p.postgres.host, port=p.postgres.port, user=p.postgres.user,
                                       dbname=p.pg_database, autocommit=True)

    def rows(self) -> int:
        if self.backend == "sqlite":
            if not self.path.exists():
                return 0
            if self._sqlite is None:
                self._sqlite = sqlite3.connect(self.path, timeout=1, isolation_level=None)
            try:  # max(rowid): no scan, and rows are only ever inserted here
                return self._sqlite.execute(f'SELECT max(rowid) FROM "{self.name}"').fetchone()[0] or 0
            except sqlite3.OperationalError:  # no table yet, or locked for a moment
                return 0
        import psycopg
        try:
            return self._pg.execute(f'SELECT count(*) FROM "{self.name}"').fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return 0

    def drop(self) -> None:
        if self.backend == "sqlite":
            if self._sqlite is not None:
                self._sqlite.close()
            self.path.unlink(missing_ok=True)
        else:
            self._pg.execute(f'DROP TABLE IF EXISTS "{self.name}"')
            self._pg.close()


def jdbc_run(p: Platform, worker: RestWorker, topic: str, backend: str, insert_mode: str, pk_mode: str,
             count: int) -> dict[str, float]:
    table = Table(p, backend)
    name = f"bench-jdbc-{uuid.uuid4().hex[:8]}"
    config = {"connector.class": JDBC_SINK, "tasks.max": "1", "topics": topic, "connection.url": table.url,
              "table.name.format": table.name, "auto.create": "true", "insert.mode": insert_mode,
              "pk.mode": pk_mode, "key.converter": STRING, "value.converter": JSON,
              "value.converter.schemas.enable": "true"}
    if pk_mode == "record_value":
        config["pk.fields"] = "id"
    created = False
    try:
        cpu0, t0 = cpu_seconds(worker.pid), time.perf_counter()
        worker.create(name, config)
        created = True
        deadline = time.monotonic() + run_timeout(count)
        next_health_check = 0.0
        while (rows := table.rows()) < count:
            now = time.perf_counter()
            if now >= next_health_check:
                worker.check(name)
                next_health_check = now + 2.0
            if time.monotonic() > deadline:
                raise RuntimeError(f"{worker.name}: {rows} of {count} rows in {backend} after "
                                   f"{run_timeout(count):.0f}s; log: {worker.log_tail()}")
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(worker.pid) - cpu0
        return {"records/s": count / elapsed, "worker CPU µs/record": cpu / count * 1e6}
    finally:
        if created:
            worker.delete(name)
        table.drop()


# -- profile --------------------------------------------------------------------------------------


def profiled(worker: RestWorker, label: str, out: Path, run) -> list[str]:
    """`run()` (one unmeasured run) with py-spy sampling our worker (200 Hz, every thread, on-CPU
    samples only); per busy thread, the functions with the most samples of their own."""
    spy = subprocess.Popen(["py-spy", "record", "--pid", str(worker.pid), "--format", "raw", "-o", str(out),
                            "--rate", "200", "--nonblocking", "--threads"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)  # py-spy attached
        run()
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(10)
    own: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    total: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    per_thread: collections.Counter = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        thread, *frames = stack.split(";")
        thread = re.sub(r"^thread \(\d+\): ", "", thread)
        frames = [_frame(f) for f in frames]
        per_thread[thread] += int(n)
        if frames:
            own[thread][frames[-1]] += int(n)
        for frame in set(frames):
            total[thread][frame] += int(n)
    samples = sum(per_thread.values())
    lines = [f"py-spy on our worker, {label}: {samples:,} on-CPU samples at 200 Hz. Per thread with >= 5% of "
             "them, the functions with the most samples of their own (time in C extensions such as "
             "confluent-kafka, the json encoder and sqlite3 counts for the Python function calling them):", "",
             "| thread | function (file) | own % of all | with callees % |", "|---|---|---:|---:|"]
    for thread, n in per_thread.most_common():
        if n < samples * 0.05:
            break
        name = f"{thread} ({100 * n / samples:.0f}%)"
        for frame, k in own[thread].most_common(10):
            lines.append(f"| {name} | `{frame}` | {100 * k / samples:.1f} | {100 * total[thread][frame] / samples:.1f} |")
            name = ""
    return lines


def _frame(text: str) -> str:
    """py-spy's `function (path:line)` as `function (path)`, paths relative to the repository."""
    match = re.match(r"^(.*) \((.*):\d+\)$", text)
    if not match:
        return text
    path = match.group(2).replace(str(REPO) + "/", "")
    path = re.sub(r"^.*/(site-packages|python3\.\d+)/", "", path)
    return f"{match.group(1)} ({path})"


# -- reporting ------------------------------------------------------------------------------------


def comparison_table(title: str, results: dict[str, dict[str, dict[str, list[float]]]]) -> list[str]:
    """results: row label -> metric -> worker -> values per round."""
    lines = [f"| {title} | metric | ours (Python) | Kafka Connect (Java) | ours / Java |", "|---|---|---:|---:|---:|"]
    for label, metrics in results.items():
        for metric, per_worker in metrics.items():
            ours, java = per_worker.get(OURS, []), per_worker.get(JAVA, [])
            ratio = summarize([a / b for a, b in zip(ours, java) if b])
            lines.append(f"| {label} | {metric} | {spread(summarize(ours))} | {spread(summarize(java))} | "
                         f"{spread(ratio, ratio=True)} |")
            label = ""
    return lines


def single_table(title: str, results: dict[str, dict[str, list[float]]]) -> list[str]:
    """results: row label -> metric -> values per round."""
    metrics = list(next(iter(results.values())).keys()) if results else []
    lines = [f"| {title} | " + " | ".join(f"{m} median (min-max)" for m in metrics) + " |",
             "|---|" + "---:|" * len(metrics)]
    for label, values in results.items():
        lines.append(f"| {label} | " + " | ".join(spread(summarize(values.get(m, []))) for m in metrics) + " |")
    return lines


def record(results: dict, label: str, measured: dict[str, float], worker: str | None = None) -> None:
    for metric, value in measured.items():
        slot = results.setdefault(label, {}).setdefault(metric, {} if worker else [])
        (slot.setdefault(worker, []) if worker else slot).append(value)


def say(text: str) -> None:
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="after measuring, one more JSON pipeline run of our worker under py-spy")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if args.repeats < 3 and args.write_docs:
        parser.error("--write-docs needs --repeats of at least 3")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    count, warm_count = args.records, max(args.records // 10, 1000)
    work = Path(tempfile.mkdtemp(prefix="schemabus-bench-connect-"))
    os.chmod(work, 0o755)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    load_before = os.getloadavg()
    p = Platform(work)
    pipeline: dict = {}
    sources: dict = {}
    jdbc: dict = {}
    profile: list[str] = []
    try:
        p.start()
        say(f"broker {p.bootstrap}, registry {p.registry.url}, ours {p.workers[OURS].url}, "
            f"Java {p.workers[JAVA].url}, work dir {work}")
        source_file, warm_file = work / "lines.txt", work / "warm-lines.txt"
        size, warm_size = write_lines(source_file, count), write_lines(warm_file, warm_count)

        # 1. FileStreamSource -> topic -> FileStreamSink
        for converter in CONVERTERS:
            for name in (OURS, JAVA):
                pipeline_run(p, p.workers[name], converter, warm_file, warm_count, warm_size)
            for name in alternating([OURS, JAVA], args.repeats):
                measured = pipeline_run(p, p.workers[name], converter, source_file, count, size)
                record(pipeline, f"{converter.capitalize()}Converter", measured, name)
                say(f"  pipeline {converter} {name}: " + ", ".join(f"{k}={v:,.1f}" for k, v in measured.items()))

        # 2. FileStreamSource alone
        for label, (name, kind) in SOURCE_PATHS.items():
            source_run(p, p.workers[name], source_converters(p, kind), warm_file, warm_count)
        for label in alternating(list(SOURCE_PATHS), args.repeats):
            name, kind = SOURCE_PATHS[label]
            measured = source_run(p, p.workers[name], source_converters(p, kind), source_file, count)
            record(sources, label, measured)
            say(f"  source {label}: " + ", ".join(f"{k}={v:,.1f}" for k, v in measured.items()))

        # 3. JDBC sink (ours)
        orders = p.topic("bench-connect-orders")
        prefill_orders(p.bootstrap, orders, count)
        warm_orders = p.topic("bench-connect-orders-warm")
        prefill_orders(p.bootstrap, warm_orders, warm_count)
        labels = {case: f"{case[0]}, insert.mode={case[1]}, pk.mode={case[2]}" for case in JDBC_CASES}
        for case in JDBC_CASES:
            jdbc_run(p, p.workers[OURS], warm_orders, *case, warm_count)
        for case in alternating(JDBC_CASES, args.repeats):
            measured = jdbc_run(p, p.workers[OURS], orders, *case, count)
            record(jdbc, labels[case], measured)
            say(f"  jdbc {labels[case]}: " + ", ".join(f"{k}={v:,.1f}" for k, v in measured.items()))

        if args.profile:
            ours = p.workers[OURS]
            profile += profiled(ours, f"one JsonConverter FileStream pipeline run of {count:,} records",
                                work / "profile-pipeline.txt",
                                lambda: pipeline_run(p, ours, "json", source_file, count, size)) + [""]
            profile += profiled(ours, f"one JDBC sink run of {count:,} records into SQLite (upsert)",
                                work / "profile-jdbc.txt",
                                lambda: jdbc_run(p, ours, orders, "sqlite", "upsert", "record_value", count))
    finally:
        p.stop()
        if not os.environ.get("BENCH_KEEP_WORK"):
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    lines = [f"{count:,} lines of {LINE_BYTES} bytes (+ newline) per run, {args.repeats} runs per row, "
             f"commit {commit}; machine: {psutil.cpu_count()} cores, 1-minute load {load_before[0]:.2f} at the "
             f"start and {load_after[0]:.2f} at the end.", "",
             "FileStreamSource -> topic -> FileStreamSink (records/s from creating the source connector):", "",
             *comparison_table("converter", pipeline), "",
             "FileStreamSource alone (records/s from creating the connector until the topic holds them all):", "",
             *single_table("worker, converter", sources), "",
             "JDBC sink, ours only (records/s from creating the connector until the table holds them all):", "",
             *single_table("database, modes", jdbc), ""]
    if profile:
        lines += [*profile, ""]
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        command = (f"python bench/connect.py --records {args.records} --repeats {args.repeats}"
                   f"{' --profile' if args.profile else ''} --write-docs")
        write_docs(text, command)


def description() -> str:
    """The module docstring without its usage line and its last sentence."""
    paragraphs = __doc__.strip().split("\n\n")[2:]
    return "\n\n".join(paragraphs).replace("\nNot a test: nothing asserts timings.", "").strip()


NOTES = """
Fairness notes:
- **Same broker, same machine.** Both workers talk to the same `schemabus broker` (Python), and
  broker, worker under test, the idle other worker, registry, PostgreSQL and this script's pollers
  share the 2 cores. A worker's figure includes whatever the broker costs it; the broker is the
  same for both.
- **Same converters and flush interval.** Each row sets the same converters on both workers'
  connectors. `offset.flush.interval.ms=1000` on both (Kafka's default is 60000, its shipped
  `connect-distributed.properties` says 10000): a sink's tail reaches the file or table only when
  the worker flushes, so a longer interval would measure the interval, not the worker.
- **The FileStreamSink tail is not written alike.** Java's FileStreamSinkTask writes every
  record through a PrintStream over an unbuffered file channel (one write per line); ours writes
  through Python's buffered text file (a few KiB) and flushes on each offset commit. So our
  end-to-end time includes the wait (up to 1 s, on average half of it) for the last few KiB of
  lines; Java's does not. The "source half" row (the topic's end offset reaching N in the same
  run) has no such tail.
- **Client settings are each runtime's own.** Java's Connect producer: acks=all,
  max.in.flight.requests.per.connection=1, idempotence off, Kafka 4.1's linger.ms=5 and
  batch.size=16384. Ours: acks=all, idempotence on, librdkafka's defaults otherwise (linger.ms=5,
  batches up to 1 MB). Our source task flushes its producer on the task thread at each offset
  commit (every second); Java commits acknowledged offsets without blocking the task.
- **Startup is in the clock, alike.** The clock starts at `POST /connectors`, so connector and
  task start (a config-topic write and a group rebalance in distributed mode) are included for
  both, once per run; for the pipeline the sink is already running and owns its partition.
- **Warm-up.** Every case runs once on each worker with N/10 records before its measured rounds
  (the JVM's JIT, our imports and caches); the measured rounds alternate which worker goes first.
- **Granularity.** The sink file is polled every 10 ms, the topic's end offset every 50 ms, the
  tables every 100 ms. Worker CPU is read from /proc in 10 ms ticks.
- **No peer for JDBC and Avro.** Confluent's JDBC connector and AvroConverter are not on Maven
  Central, so those rows are ours alone. The Avro rows use our registry (Python, same machine);
  each run writes a new topic, so the converter registers one schema per run and then uses its
  cached id.
"""


def write_docs(text: str, command: str) -> None:
    docs = REPO / "docs" / "benchmarks.md"
    current = docs.read_text()
    section = f"## Kafka Connect\n\nCommand: `{command}`\n\n{description()}\n\n{text.strip()}\n\n{NOTES.strip()}\n"
    start = current.find("## Kafka Connect")
    if start < 0:
        docs.write_text(current.rstrip() + "\n\n" + section)
    else:
        end = current.find("\n## ", start + 1)
        docs.write_text(current[:start] + section + (current[end + 1:] if end >= 0 else ""))


if __name__ == "__main__":
    main()
