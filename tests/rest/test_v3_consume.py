"""Our v3 consume extension through a real proxy: records produced with confluent-kafka (Avro through
Confluent's serializer, plain bytes, headers) streamed back as NDJSON and decoded through the
registry; reads from a group's committed offsets and explicit commits; a live tail; the errors."""

from __future__ import annotations

import json
import threading

import requests
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer as ConfluentAvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext as ConfluentContext

from tests.conftest import unique_topic
from tests.rest.test_v2_topics import create_topic
from tests.rest.test_v3_records import cluster_id

USER = {"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}]}


def produce(bootstrap: str, topic: str, records: list[tuple], partition: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value, headers in records:
        producer.produce(topic, value, key, partition=partition, headers=headers)
    assert producer.flush(30) == 0


def read(rest, topic: str, **params) -> list[dict]:
    response = requests.get(f"{rest.url}/v3/clusters/{cluster_id(rest)}/topics/{topic}/records", params=params,
                            timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.text.splitlines() if line]


def test_records_stream_back_decoded_through_the_registry(platform):
    broker, rest, registry = platform
    topic = unique_topic("v3-read")
    create_topic(broker.bootstrap, topic, 2)
    serialize = ConfluentAvroSerializer(ConfluentRegistryClient({"url": registry.url}), json.dumps(USER))
    avro = serialize({"name": "ada"}, ConfluentContext(topic, MessageField.VALUE))
    produce(broker.bootstrap, topic, [(b"k1", avro, [("trace", b"t-1")]), (None, b"\xff\x00raw", None),
                                      (b"k3", b'{"n": 3}', None)])
    produce(broker.bootstrap, topic, [(b"other", b"p1", None)], partition=1)
    got = read(rest, topic, partition_id=0, until="end")
    assert [r["offset"] for r in got] == [0, 1, 2]
    first = got[0]
    assert first["value"]["type"] == "AVRO" and first["value"]["data"] == {"name": "ada"}
    assert first["value"]["schema_id"] == int.from_bytes(avro[1:5], "big")
    assert first["key"] == {"type": "BINARY", "data": "azE="} and first["headers"] == [{"name": "trace", "value": "dC0x"}]
    assert first["topic_name"] == topic and first["timestamp_type"] == "CREATE_TIME" and first["timestamp"].endswith("Z")
    assert got[1]["key"] is None and got[1]["value"] == {"type": "BINARY", "data": "/wByYXc="}
    # Asked as JSON, a value that is JSON comes decoded; one that is not comes as BINARY with the reason.
    as_json = read(rest, topic, partition_id=0, offset=1, until="end", value_type="JSON", key_type="STRING")
    assert as_json[1]["value"] == {"type": "JSON", "data": {"n": 3}} and as_json[1]["key"] == {"type": "STRING",
                                                                                               "data": "k3"}
    assert as_json[0]["value"]["type"] == "BINARY" and "error" in as_json[0]["value"]
    # No partition named: every partition, until the end of each.
    assert sorted((r["partition_id"], r["offset"]) for r in read(rest, topic, until="end")) == [
        (0, 0), (0, 1), (0, 2), (1, 0)]
    assert [r["offset"] for r in read(rest, topic, partition_id=0, max_records=2)] == [0, 1]


def test_group_reads_resume_from_explicit_commits(platform):
    broker, rest, _ = platform
    topic, group = unique_topic("v3-commit"), unique_topic("v3-group")
    create_topic(broker.bootstrap, topic, 1)
    produce(broker.bootstrap, topic, [(None, f"r{n}".encode(), None) for n in range(5)])
    offsets_url = f"{rest.url}/v3/clusters/{cluster_id(rest)}/consumer-groups/{group}/offsets"
    first = read(rest, topic, group_id=group, max_records=2, value_type="STRING")
    assert [r["value"]["data"] for r in first] == ["r0", "r1"]
    commit = requests.post(offsets_url, json={"offsets": [{"topic_name": topic, "partition_id": 0,
                                                           "offset": first[-1]["offset"] + 1}]}, timeout=30)
    assert commit.status_code == 200, commit.text
    assert requests.get(offsets_url, timeout=30).json()["offsets"] == [
        {"topic_name": topic, "partition_id": 0, "offset": 2}]
    assert [r["value"]["data"] for r in read(rest, topic, group_id=group, until="end", value_type="STRING")] == [
        "r2", "r3", "r4"]
    # Kafka's own consumer sees the same committed offset.
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        message = None
        for _ in range(30):
            message = consumer.poll(1)
            if message is not None:
                break
        assert message is not None and message.value() == b"r2"
        # While a Kafka consumer is active in the group, Kafka refuses other commits: 409.
        refused = requests.post(offsets_url, json={"offsets": [{"topic_name": topic, "partition_id": 0,
                                                                "offset": 0}]}, timeout=30)
        assert refused.status_code == 409 and refused.json()["error_code"] == 40903, refused.text
    finally:
        consumer.close()


def test_live_tail_returns_records_produced_after_it_started(platform):
    broker, rest, _ = platform
    topic = unique_topic("v3-tail")
    create_topic(broker.bootstrap, topic, 1)
    got: list = []
    # The topic is empty: the tail waits (timeout_ms=-1 never ends it for want of records).
    tail = threading.Thread(target=lambda: got.extend(read(rest, topic, partition_id=0, timeout_ms=-1,
                                                           max_records=3)))
    tail.start()
    tail.join(1.5)
    assert tail.is_alive(), "the live tail ended with no records"
    produce(broker.bootstrap, topic, [(None, f"live{n}".encode(), None) for n in range(3)])
    tail.join(30)
    assert not tail.is_alive(), "the live tail did not end after max_records"
    assert [r["offset"] for r in got] == [0, 1, 2]


def test_read_and_commit_errors_are_4xx(platform):
    broker, rest, _ = platform
    topic = unique_topic("v3-read-errors")
    create_topic(broker.bootstrap, topic, 1)
    url = f"{rest.url}/v3/clusters/{cluster_id(rest)}/topics/{topic}/records"
    for params, status in (({"partition_id": 9}, 404), ({"partition_id": "x"}, 400), ({"from": "middle"}, 400),
                           ({"offset": 3}, 400), ({"value_type": "XML"}, 400), ({"timestamp": "yesterday"}, 400),
                           ({"max_records": 0}, 400), ({"until": "forever"}, 400)):
        answer = requests.get(url, params=params, timeout=30)
        assert answer.status_code == status, (params, answer.text)
        assert answer.json()["error_code"] in (status, 40402)
    assert requests.get(url.replace(topic, "missing-topic"), timeout=30).status_code == 404
    offsets_url = f"{rest.url}/v3/clusters/{cluster_id(rest)}/consumer-groups/g/offsets"
    assert requests.post(offsets_url, json={"offsets": []}, timeout=30).status_code == 422
    assert requests.post(offsets_url, json={"offsets": [{"topic_name": topic, "partition_id": -1, "offset": 0}]},
                         timeout=30).status_code == 400
    assert requests.post(offsets_url, data="{", headers={"Content-Type": "application/json"},
                         timeout=30).status_code == 400
