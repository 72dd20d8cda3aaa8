"""REST Proxy throughput next to the native client path, on one broker in one invocation.

    python bench/rest_proxy.py [--records 100000] [--repeats 3] [--write-docs]

Karapace's REST proxy, the peer the issue names, does not install here (docs/design/rest-proxy.md,
4.1), so the peer is what an application does without a proxy: confluent-kafka's Producer and
Consumer (librdkafka's defaults, its recommended settings), with our serdes for Avro.

Starts `schemabus broker`, `schemabus registry` and `schemabus rest` (each logging at WARNING or
its default), then for 1 KiB JSON values and 1 KiB Avro values measures records/s of:
- produce: native Producer; v2 POST /topics/{t} with 100 records per request from 4 client
  threads; v3 streaming produce, all records on one connection;
- consume: native Consumer; v2 consumer instance records (fetch.min.bytes and max_bytes 1 MiB
  per request); our v3 consume extension, one NDJSON stream until the log end.
Every path is warmed up before measuring; paths alternate order each round (A B C, C B A, ...);
each is measured `--repeats` times (>= 3) and reported as median (min-max). The proxy's overhead per
record is 1/proxy rate - 1/native rate, and the proxy's own CPU per record is read from /proc.
Request bodies are built before the clock starts, so the client's JSON work is not counted.
Not a test: nothing asserts timings.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import alternating, cpu_seconds, summarize  # noqa: E402
from formats import Schema  # noqa: E402
from registry_client import SchemaRegistryClient  # noqa: E402
from serdes.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from serdes.serialization import SerializationContext  # noqa: E402
from tests.conftest import BrokerProcess  # noqa: E402
from tests.registry.conftest import RegistryProcess  # noqa: E402
from tests.rest.conftest import RestProcess  # noqa: E402

COMMAND = "python bench/rest_proxy.py --records 100000 --repeats 3 --write-docs"
PARTITIONS = 3
PAYLOAD = "x" * 1000
SCHEMA = {"type": "record", "name": "Event", "fields": [{"name": "id", "type": "long"},
                                                        {"name": "payload", "type": "string"}]}
V2_BATCH = 100
V2_THREADS = 4


def value_of(n: int) -> dict:
    return {"id": n, "payload": PAYLOAD}


class Platform:
    def __init__(self, work: Path):
        self.broker = BrokerProcess(work / "data", {"num.partitions": str(PARTITIONS)}).start()
        self.registry = RegistryProcess(self.broker.bootstrap, work).start()
        self.rest = RestProcess(work, self.broker.bootstrap, registry_url=self.registry.url).start()
        self.bootstrap = self.broker.bootstrap
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})
        self.cluster_id = requests.get(f"{self.rest.url}/v3/clusters", timeout=30).json()["data"][0]["cluster_id"]
        self.client = SchemaRegistryClient({"url": self.registry.url})
        self.http = requests.Session()

    def topic(self) -> str:
        name = f"bench-rest-{uuid.uuid4().hex[:8]}"
        for future in self.admin.create_topics([NewTopic(name, PARTITIONS, 1)]).values():
            future.result(60)
        return name

    def drop(self, topic: str) -> None:
        for future in self.admin.delete_topics([topic]).values():
            future.result(60)

    def stop(self) -> None:
        self.rest.stop()
        self.registry.stop()
        self.broker.stop()


# -- produce paths ------------------------------------------------------------------------------


def native_produce(p: Platform, topic: str, fmt: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": p.bootstrap})
    if fmt == "avro":
        serialize = AvroSerializer(p.client, json.dumps(SCHEMA))
        ctx = SerializationContext(topic, "value")
        encode = lambda n: serialize(value_of(n), ctx)  # noqa: E731
    else:
        encode = lambda n: json.dumps(value_of(n), separators=(",", ":")).encode()  # noqa: E731
    for n in range(count):
        while True:
            try:
                producer.produce(topic, encode(n))
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    assert producer.flush(120) == 0


def v2_bodies(p: Platform, topic: str, fmt: str, count: int) -> tuple[list[bytes], str]:
    records = [{"value": value_of(n)} for n in range(V2_BATCH)]
    if fmt == "avro":
        schema_id = p.client.register_schema(f"{topic}-value", Schema(json.dumps(SCHEMA), "AVRO"))
        body = {"value_schema_id": schema_id, "records": records}
    else:
        body = {"records": records}
    return [json.dumps(body).encode()] * (count // V2_BATCH), f"application/vnd.kafka.{fmt}.v2+json"


def v2_produce(p: Platform, topic: str, bodies: list[bytes], content_type: str) -> None:
    url = f"{p.rest.url}/topics/{topic}"
    chunks = [bodies[i::V2_THREADS] for i in range(V2_THREADS)]
    errors: list[str] = []

    def post_all(mine: list[bytes]) -> None:
        with requests.Session() as session:
            for body in mine:
                answer = session.post(url, data=body, headers={"Content-Type": content_type}, timeout=120)
                if answer.status_code != 200 or any(o["error_code"] for o in answer.json()["offsets"]):
                    errors.append(answer.text[:200])
    threads = [threading.Thread(target=post_all, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


def v3_stream_chunks(p: Platform, topic: str, fmt: str, count: int) -> list[bytes]:
    if fmt == "avro":
        schema_id = p.client.register_schema(f"{topic}-value", Schema(json.dumps(SCHEMA), "AVRO"))
        line = lambda n: {"value": {"schema_id": schema_id, "data": value_of(n)}}  # noqa: E731
    else:
        line = lambda n: {"value": {"type": "JSON", "data": value_of(n)}}  # noqa: E731
    per_chunk = 64
    return ["".join(json.dumps(line(n)) + "\n" for n in range(start, min(count, start + per_chunk))).encode()
            for start in range(0, count, per_chunk)]


def v3_produce(p: Platform, topic: str, chunks: list[bytes], count: int) -> None:
    url = f"{p.rest.url}/v3/clusters/{p.cluster_id}/topics/{topic}/records"
    answer = p.http.post(url, data=iter(chunks), headers={"Content-Type": "application/json"}, timeout=600,
                         stream=True)
    ok = 0
    for line in answer.iter_lines(chunk_size=1 << 16):
        if line:
            ok += line.startswith(b'{"error_code":200')
    assert ok == count, f"{ok} of {count} records acknowledged"


# -- consume paths ------------------------------------------------------------------------------


def native_consume(p: Platform, topic: str, fmt: str, count: int) -> None:
    consumer = Consumer({"bootstrap.servers": p.bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, i, 0) for i in range(PARTITIONS)])
    read = AvroDeserializer(p.client) if fmt == "avro" else None
    ctx = SerializationContext(topic, "value")
    got = 0
    try:
        while got < count:
            for message in consumer.consume(500, 5):
                value = read(message.value(), ctx) if read else json.loads(message.value())
                got += value is not None
    finally:
        consumer.close()


def v2_consume(p: Platform, topic: str, fmt: str, count: int) -> None:
    group = f"bench-{uuid.uuid4().hex[:6]}"
    v2 = "application/vnd.kafka.v2+json"
    base = f"{p.rest.url}/consumers/{group}"
    # fetch.min.bytes: answer once a request has that much (kafka-rest's way to not wait out the
    # request timeout when records are there).
    created = p.http.post(base, json={"format": fmt, "auto.offset.reset": "earliest", "fetch.min.bytes": 1048576},
                          headers={"Content-Type": v2}, timeout=30).json()
    instance = created["base_uri"]
    p.http.post(f"{instance}/subscription", json={"topics": [topic]}, headers={"Content-Type": v2}, timeout=30)
    got = 0
    try:
        while got < count:
            answer = p.http.get(f"{instance}/records?max_bytes=1048576&timeout=1000",
                                headers={"Accept": f"application/vnd.kafka.{fmt}.v2+json"}, timeout=60)
            assert answer.status_code == 200, answer.text
            got += len(answer.json())
    finally:
        p.http.delete(instance, headers={"Content-Type": v2}, timeout=30)


def v3_consume(p: Platform, topic: str, fmt: str, count: int) -> None:
    url = f"{p.rest.url}/v3/clusters/{p.cluster_id}/topics/{topic}/records?until=end"
    answer = p.http.get(url, stream=True, timeout=600)
    got = sum(1 for line in answer.iter_lines(chunk_size=1 << 16) if line)
    assert got == count, f"read {got} of {count}"


# -- the comparison -----------------------------------------------------------------------------


def measure(p: Platform, fmt: str, count: int, repeats: int, warm: bool) -> dict[str, list[dict]]:
    """path -> [{"rate": records/s, "proxy_cpu_us": proxy CPU µs per record}] per run."""
    produce_paths = ["native", "v2", "v3-stream"]
    consume_paths = ["native", "v2", "v3-stream"]
    results: dict[str, list[dict]] = {}
    proxy_pid = p.rest.proc.pid

    def timed(key: str, fn) -> None:
        cpu0, t0 = cpu_seconds(proxy_pid), time.perf_counter()
        fn()
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(proxy_pid) - cpu0
        if not warm:
            results.setdefault(key, []).append({"rate": count / elapsed, "proxy_cpu_us": cpu / count * 1e6})
            print(f"  {fmt} {key}: {count / elapsed:,.0f} records/s", flush=True)

    for path in alternating(produce_paths, repeats):
        topic = p.topic()
        if path == "native":
            timed("produce native", lambda: native_produce(p, topic, fmt, count))
        elif path == "v2":
            bodies, content_type = v2_bodies(p, topic, fmt, count)
            timed("produce v2 (100/request)", lambda: v2_produce(p, topic, bodies, content_type))
        else:
            chunks = v3_stream_chunks(p, topic, fmt, count)
            timed("produce v3 stream", lambda: v3_produce(p, topic, chunks, count))
        p.drop(topic)
    topic = p.topic()
    if fmt == "avro":
        p.client.register_schema(f"{topic}-value", Schema(json.dumps(SCHEMA), "AVRO"))
    native_produce(p, topic, fmt, count)
    for path in alternating(consume_paths, repeats):
        if path == "native":
            timed("consume native", lambda: native_consume(p, topic, fmt, count))
        elif path == "v2":
            timed("consume v2 instance", lambda: v2_consume(p, topic, fmt, count))
        else:
            timed("consume v3 stream (ours)", lambda: v3_consume(p, topic, fmt, count))
    p.drop(topic)
    return results


def table(fmt: str, results: dict[str, list[dict]]) -> list[str]:
    rows = [f"| {fmt} | path | records/s median (min-max) | vs native | proxy overhead µs/record | "
            "proxy CPU µs/record |", "|---|---|---:|---:|---:|---:|"]
    for key, runs in results.items():
        rate = summarize([r["rate"] for r in runs])
        cpu = summarize([r["proxy_cpu_us"] for r in runs])
        native = summarize([r["rate"] for r in results[f"{key.split()[0]} native"]])[0]
        overhead = "-" if "native" in key else f"{(1 / rate[0] - 1 / native) * 1e6:.1f}"
        rows.append(f"| | {key} | {rate[0]:,.0f} ({rate[1]:,.0f}-{rate[2]:,.0f}) | {rate[0] / native:.2f}x | "
                    f"{overhead} | {'-' if 'native' in key else f'{cpu[0]:.1f}'} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    work = Path(tempfile.mkdtemp(prefix="schemabus-bench-rest-"))
    p = Platform(work)
    lines = [f"{args.records:,} records of 1 KiB per run, {PARTITIONS} partitions, {args.repeats} runs per path; "
             f"machine: {psutil.cpu_count()} cores.", ""]
    try:
        for fmt in ("json", "avro"):
            measure(p, fmt, max(args.records // 10, 1000), 1, warm=True)
            results = measure(p, fmt, args.records, args.repeats, warm=False)
            lines += table(fmt, results) + [""]
    finally:
        p.stop()
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        write_docs(text)


def description() -> str:
    """The module docstring without its usage line and its last sentence."""
    paragraphs = __doc__.strip().split("\n\n")[2:]
    return "\n\n".join(paragraphs).replace("\nNot a test: nothing asserts timings.", "").strip()


def write_docs(text: str) -> None:
    docs = REPO / "docs" / "benchmarks.md"
    current = docs.read_text()
    section = f"## REST Proxy\n\nCommand: `{COMMAND}`\n\n{description()}\n\n{text}\n"
    start = current.find("## REST Proxy")
    if start < 0:
        docs.write_text(current.rstrip() + "\n\n" + section)
    else:
        end = current.find("\n## ", start + 1)
        docs.write_text(current[:start] + section + (current[end + 1:] if end >= 0 else ""))


if __name__ == "__main__":
    main()
