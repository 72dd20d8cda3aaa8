"""kafka-rest v2 metadata and produce (binary, json) through a real proxy, read back with
confluent-kafka; kafka-rest's error codes for what clients get wrong."""

from __future__ import annotations

import base64

import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import unique_topic

V2 = "application/vnd.kafka.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"
JSON = "application/vnd.kafka.json.v2+json"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # held until the future completes
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(30)


def read_back(bootstrap: str, topic: str, partition: int, n: int) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, 0)])
    out = []
    try:
        while len(out) < n:
            message = consumer.poll(15)
            assert message is not None, f"read {len(out)} of {n} records"
            assert message.error() is None, message.error()
            out.append(message)
    finally:
        consumer.close()
    return out


def test_metadata_endpoints(platform):
    broker, rest, _ = platform
    topic = unique_topic("rest-md")
    create_topic(broker.bootstrap, topic, 3)
    assert requests.get(f"{rest.url}/", timeout=10).json() == {}
    answer = requests.get(f"{rest.url}/brokers", timeout=10)
    assert answer.headers["Content-Type"] == V2 and answer.json() == {"brokers": [1]}
    listed = requests.get(f"{rest.url}/topics", timeout=10).json()
    assert topic in listed and "__consumer_offsets" not in listed
    described = requests.get(f"{rest.url}/topics/{topic}", timeout=10).json()
    assert described["name"] == topic and described["configs"]["cleanup.policy"] == "delete"
    assert described["partitions"] == [{"partition": p, "leader": 1, "replicas": [
        {"broker": 1, "leader": True, "in_sync": True}]} for p in range(3)]
    assert requests.get(f"{rest.url}/topics/{topic}/partitions/2", timeout=10).json()["partition"] == 2
    assert requests.get(f"{rest.url}/topics/{topic}/partitions/1/offsets", timeout=10).json() == {
        "beginning_offset": 0, "end_offset": 0}
    for path, code in [(f"/topics/{topic}-missing", 40401), (f"/topics/{topic}/partitions/3", 40402),
                       (f"/topics/{topic}/partitions/-1/offsets", 40402)]:
        missing = requests.get(rest.url + path, timeout=10)
        assert (missing.status_code, missing.json()["error_code"]) == (404, code), (path, missing.text)
    assert topic + "-missing" not in requests.get(f"{rest.url}/topics", timeout=10).json()  # not auto-created


def test_binary_and_json_produce_are_read_back_byte_exact(platform):
    broker, rest, _ = platform
    topic = unique_topic("rest-produce")
    create_topic(broker.bootstrap, topic, 2)
    records = [{"key": b64(b"k%d" % i), "value": b64(bytes([i, 0, 255])), "partition": 1} for i in range(50)]
    records[0]["headers"] = [{"name": "trace", "value": b64(b"abc")}, {"name": "empty", "value": None}]
    answer = requests.post(f"{rest.url}/topics/{topic}", json={"records": records},
                           headers={"Content-Type": BINARY}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["key_schema_id"] is None and body["value_schema_id"] is None
    assert body["offsets"] == [{"partition": 1, "offset": i, "error_code": None, "error": None} for i in range(50)]
    got = read_back(broker.bootstrap, topic, 1, 50)
    assert [(m.key(), m.value()) for m in got] == [(b"k%d" % i, bytes([i, 0, 255])) for i in range(50)]
    assert got[0].headers() == [("trace", b"abc"), ("empty", None)]

    answer = requests.post(f"{rest.url}/topics/{topic}/partitions/0",
                           json={"records": [{"value": {"a": [1, 2]}}, {"key": "k", "value": None}]},
                           headers={"Content-Type": JSON}, timeout=30)
    assert [(o["partition"], o["offset"]) for o in answer.json()["offsets"]] == [(0, 0), (0, 1)]
    got = read_back(broker.bootstrap, topic, 0, 2)
    assert [(m.key(), m.value()) for m in got] == [(None, b'{"a":[1,2]}'), (b'"k"', None)]


def test_bad_produce_requests_get_kafka_rests_errors_and_write_nothing(platform):
    broker, rest, _ = platform
    topic = unique_topic("rest-bad")
    create_topic(broker.bootstrap, topic, 1)
    cases = [
        (BINARY, b"{not json", 400, 400),
        (BINARY, b'{"records": [{"value": 42}]}', 400, 400),
        (BINARY, b'{"records": [{"value": "***"}]}', 400, 400),
        (BINARY, b'{"records": []}', 422, 422),
        (BINARY, b'{"records": [{"value": null, "partition": 7}]}', 404, 40402),
        ("text/plain", b'{"records": [{"value": null}]}', 415, 415),
    ]
    for content_type, body, status, code in cases:
        answer = requests.post(f"{rest.url}/topics/{topic}", data=body, headers={"Content-Type": content_type},
                               timeout=10)
        assert (answer.status_code, answer.json()["error_code"]) == (status, code), (body, answer.text)
    missing = requests.post(f"{rest.url}/topics/{topic}-nope", json={"records": [{"value": None}]},
                            headers={"Content-Type": BINARY}, timeout=10)
    assert (missing.status_code, missing.json()["error_code"]) == (404, 40401)
    # A request with one bad record writes none of its records.
    mixed = requests.post(f"{rest.url}/topics/{topic}", json={"records": [{"value": b64(b"ok")}, {"value": "%%"}]},
                          headers={"Content-Type": BINARY}, timeout=10)
    assert mixed.status_code == 400
    assert requests.get(f"{rest.url}/topics/{topic}/partitions/0/offsets", timeout=10).json()["end_offset"] == 0
    assert "Traceback" not in rest.log_text()


def test_a_body_over_64_mib_is_413_and_writes_nothing(platform):
    broker, rest, _ = platform
    topic = unique_topic("rest-huge")
    create_topic(broker.bootstrap, topic, 1)
    body = b'{"records":[{"value":"' + b"A" * (65 * 1024 * 1024) + b'"}]}'
    for path, content_type in ((f"/topics/{topic}", BINARY),
                               (f"/v3/clusters/-/topics/{topic}/records:batch", "application/json")):
        answer = requests.post(rest.url + path, data=body, headers={"Content-Type": content_type}, timeout=60)
        assert answer.status_code == 413, answer.text
        assert answer.json()["error_code"] == 413
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": topic})
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 0)
    finally:
        consumer.close()
