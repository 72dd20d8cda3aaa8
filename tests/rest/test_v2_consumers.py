"""kafka-rest v2 consumer instances through a real proxy: records produced with confluent-kafka's
serializers read back in each embedded format, subscription and assignment, seeks, commits,
the idle timeout, and kafka-rest's errors."""

from __future__ import annotations

import base64
import json
import time

import requests
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer as ConfluentAvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext as ConfluentContext

from tests.conftest import unique_topic, wait_until
from tests.rest.conftest import RestProcess
from tests.rest.test_v2_topics import create_topic

V2 = "application/vnd.kafka.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"
AVRO = "application/vnd.kafka.avro.v2+json"


def call(rest, method: str, path: str, body=None, accept: str = V2) -> requests.Response:
    return requests.request(method, rest.url + path, data=None if body is None else json.dumps(body),
                            headers={"Content-Type": V2, "Accept": accept}, timeout=30)


def read_all(rest, base: str, n: int, accept: str) -> list[dict]:
    records: list[dict] = []

    def more():
        answer = call(rest, "GET", f"{base}/records?timeout=500", accept=accept)
        assert answer.status_code == 200, answer.text
        records.extend(answer.json())
        return len(records) >= n
    wait_until(more, 30, f"{n} records through the proxy")
    return records


def test_binary_consumer_with_assignment_seek_commit_and_delete(platform):
    broker, rest, _ = platform
    topic = unique_topic("rest-consume")
    create_topic(broker.bootstrap, topic, 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(20):
        producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0, headers=[("h", b"x%d" % i)])
    assert producer.flush(30) == 0

    group = unique_topic("rest-group")
    created = call(rest, "POST", f"/consumers/{group}", {"name": "c1", "format": "binary",
                                                          "auto.offset.reset": "earliest"})
    assert created.status_code == 200, created.text
    assert created.json() == {"instance_id": "c1", "base_uri": f"{rest.url}/consumers/{group}/instances/c1"}
    base = f"/consumers/{group}/instances/c1"
    assert call(rest, "POST", base + "/assignments", {"partitions": [{"topic": topic, "partition": 0}]}).status_code == 204
    assert call(rest, "GET", base + "/assignments").json() == {"partitions": [{"topic": topic, "partition": 0}]}
    got = read_all(rest, base, 20, BINARY)
    assert [(base64.b64decode(r["key"]), base64.b64decode(r["value"]), r["offset"]) for r in got] == [
        (b"k%d" % i, b"v%d" % i, i) for i in range(20)]
    assert got[3]["headers"] == [{"name": "h", "value": base64.b64encode(b"x3").decode()}]
    assert call(rest, "POST", base + "/offsets", {"offsets": [{"topic": topic, "partition": 0, "offset": 9}]}).json() == []
    committed = call(rest, "GET", base + "/offsets", {"partitions": [{"topic": topic, "partition": 0}]}).json()
    assert committed == {"offsets": [{"topic": topic, "partition": 0, "offset": 10, "metadata": ""}]}

    assert call(rest, "POST", base + "/positions", {"offsets": [{"topic": topic, "partition": 0, "offset": 15}]}
                ).status_code == 204
    assert [r["offset"] for r in read_all(rest, base, 5, BINARY)] == [15, 16, 17, 18, 19]
    assert call(rest, "POST", base + "/positions/beginning", {"partitions": [{"topic": topic, "partition": 0}]}
                ).status_code == 204
    assert read_all(rest, base, 1, BINARY)[0]["offset"] == 0
    call(rest, "POST", base + "/positions", {"offsets": [{"topic": topic, "partition": 0, "offset": 0}]})
    limited = call(rest, "GET", base + "/records?timeout=1000&max_bytes=30", accept=BINARY).json()
    assert [r["offset"] for r in limited] == list(range(7))  # 4 key+value bytes each: the 8th would reach 30
    assert read_all(rest, base, 1, BINARY)[0]["offset"] == 7  # the rest is read next

    mismatch = call(rest, "GET", base + "/records", accept=AVRO)
    assert (mismatch.status_code, mismatch.json()["error_code"]) == (406, 40601)
    duplicate = call(rest, "POST", f"/consumers/{group}", {"name": "c1"})
    assert (duplicate.status_code, duplicate.json()["error_code"]) == (409, 40902)
    assert call(rest, "DELETE", base).status_code == 204
    gone = call(rest, "GET", base + "/records", accept=BINARY)
    assert (gone.status_code, gone.json()["error_code"]) == (404, 40403)
    bad = call(rest, "POST", f"/consumers/{group}", {"format": "xml"})
    assert (bad.status_code, bad.json()["error_code"]) == (422, 422)


def test_avro_records_from_confluent_serializers_through_a_subscription(platform):
    broker, rest, registry = platform
    topic = unique_topic("rest-avro-consume")
    create_topic(broker.bootstrap, topic, 1)
    schema = {"type": "record", "name": "Reading", "fields": [{"name": "c", "type": "double"},
                                                              {"name": "tag", "type": ["null", "string"]}]}
    serialize = ConfluentAvroSerializer(ConfluentRegistryClient({"url": registry.url}), json.dumps(schema))
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(5):
        producer.produce(topic, value=serialize({"c": i / 2, "tag": None if i % 2 else "t"},
                                                ConfluentContext(topic, MessageField.VALUE)))
    assert producer.flush(30) == 0
    group = unique_topic("rest-avro-group")
    assert call(rest, "POST", f"/consumers/{group}", {"name": "a", "format": "avro",
                                                      "auto.offset.reset": "earliest"}).status_code == 200
    base = f"/consumers/{group}/instances/a"
    assert call(rest, "POST", base + "/subscription", {"topics": [topic]}).status_code == 204
    assert call(rest, "GET", base + "/subscription").json() == {"topics": [topic]}
    got = read_all(rest, base, 5, AVRO)
    assert [r["value"] for r in got] == [{"c": i / 2, "tag": None if i % 2 else {"string": "t"}} for i in range(5)]
    assert call(rest, "POST", base + "/offsets").status_code == 200  # commits what was consumed
    assert call(rest, "DELETE", base + "/subscription").status_code == 204
    assert call(rest, "DELETE", base).status_code == 204


def test_idle_instances_are_removed_after_the_instance_timeout(platform, tmp_path):
    broker, _, registry = platform
    rest = RestProcess(tmp_path, broker.bootstrap, {"consumer.instance.timeout.ms": "1500"},
                       registry_url=registry.url).start()
    try:
        group = unique_topic("rest-idle")
        assert call(rest, "POST", f"/consumers/{group}", {"name": "idle"}).status_code == 200
        base = f"/consumers/{group}/instances/idle"
        assert call(rest, "GET", base + "/assignments").status_code == 200
        time.sleep(3.5)
        gone = call(rest, "GET", base + "/assignments")
        assert (gone.status_code, gone.json()["error_code"]) == (404, 40403)
    finally:
        rest.stop()
    assert "idle for 2 s: closed" in rest.log_text()


def test_max_bytes_over_many_partitions_loses_and_repeats_nothing(platform):
    """A response cut at max_bytes holds the rest of what Kafka gave for the next request; the
    offsets a commit commits are those of records returned, never of records held back."""
    broker, rest, _ = platform
    topic = unique_topic("rest-max-bytes")
    create_topic(broker.bootstrap, topic, 3)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(600):
        producer.produce(topic, value=b"%04d" % i, partition=i % 3)
    assert producer.flush(30) == 0
    group = unique_topic("rest-max-bytes-group")
    call(rest, "POST", f"/consumers/{group}", {"name": "c", "format": "binary", "auto.offset.reset": "earliest",
                                               "auto.commit.enable": "false"})
    base = f"/consumers/{group}/instances/c"
    call(rest, "POST", base + "/subscription", {"topics": [topic]})
    first = call(rest, "GET", base + "/records?timeout=3000&max_bytes=200", accept=BINARY).json()
    while not first:  # the group's first join can take a moment
        first = call(rest, "GET", base + "/records?timeout=3000&max_bytes=200", accept=BINARY).json()
    assert 0 < len(first) < 50
    assert call(rest, "POST", base + "/offsets").status_code == 200  # commits what was returned only
    committed = {o["partition"]: o["offset"] for o in call(
        rest, "GET", base + "/offsets", {"partitions": [{"topic": topic, "partition": p} for p in range(3)]}
    ).json()["offsets"]}
    returned = {}
    for r in first:
        returned[r["partition"]] = max(returned.get(r["partition"], -1), r["offset"] + 1)
    assert committed == returned
    rest_of_them = read_all(rest, base, 600 - len(first), BINARY)
    values = sorted(base64.b64decode(r["value"]) for r in first + rest_of_them)
    assert values == [b"%04d" % i for i in range(600)]
    call(rest, "DELETE", base)
