"""kafka-rest v3 produce through a real proxy: one record, a stream of 100k records on one
connection, full duplex (an answer before the next record is sent), the schema'd formats by id,
version, inline and latest, records:batch, and the errors each record or request gets. Records are
read back with confluent-kafka and our deserializers."""

from __future__ import annotations

import base64
import json
import socket

import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer as ConfluentAvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext as ConfluentContext

from registry_client import SchemaRegistryClient
from serdes.json_schema import JSONDeserializer
from serdes.protobuf import ProtobufDeserializer
from serdes.serialization import SerializationContext
from tests.conftest import unique_topic
from tests.rest.test_v2_topics import create_topic, read_back

ORDER = {"type": "record", "name": "Order", "namespace": "shop",
         "fields": [{"name": "id", "type": "long"}, {"name": "note", "type": ["null", "string"], "default": None}]}


def cluster_id(rest) -> str:
    return requests.get(f"{rest.url}/v3/clusters", timeout=10).json()["data"][0]["cluster_id"]


def records_url(rest, topic: str, suffix: str = "records") -> str:
    return f"{rest.url}/v3/clusters/{cluster_id(rest)}/topics/{topic}/{suffix}"


def answers(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.split("\r\n") if line]


def test_one_record_of_each_plain_type_with_headers_and_timestamp(platform):
    broker, rest, _ = platform
    topic = unique_topic("v3-plain")
    create_topic(broker.bootstrap, topic, 2)
    url = records_url(rest, topic)
    sent = [
        {"partition_id": 1, "key": {"type": "BINARY", "data": base64.b64encode(b"\x00k").decode()},
         "value": {"type": "JSON", "data": {"a": [1, 2]}}, "headers": [{"name": "h", "value": "aGk="},
                                                                        {"name": "h", "value": None}],
         "timestamp": "2021-02-05T19:14:42.123Z"},
        {"partition_id": 1, "value": {"type": "STRING", "data": "héllo"}},
        {"partition_id": 1, "key": {"type": "STRING", "data": "k"}, "value": {"type": "BINARY", "data": None}},
    ]
    got = [answers(requests.post(url, json=body, timeout=30))[0] for body in sent]
    assert [a["offset"] for a in got] == [0, 1, 2] and all(a["error_code"] == 200 for a in got), got
    assert got[0]["key"] == {"type": "BINARY", "size": 2} and got[0]["value"] == {"type": "JSON", "size": 11}
    assert got[0]["timestamp"] == "2021-02-05T19:14:42.123Z" and got[0]["topic_name"] == topic
    assert "key" not in got[1] and got[1]["value"] == {"type": "STRING", "size": 6}
    records = read_back(broker.bootstrap, topic, 1, 3)
    assert [(m.key(), m.value()) for m in records] == [(b"\x00k", b'{"a":[1,2]}'), (None, "héllo".encode()),
                                                        (b"k", None)]
    assert records[0].headers() == [("h", b"hi"), ("h", None)]
    assert records[0].timestamp()[1] == 1612552482123


def test_stream_of_100k_records_on_one_connection_answers_each_in_order(platform):
    broker, rest, _ = platform
    topic = unique_topic("v3-stream")
    create_topic(broker.bootstrap, topic, 3)
    total = 100_000

    def body():
        for start in range(0, total, 1000):
            yield "".join(json.dumps({"value": {"type": "JSON", "data": {"n": n}}}) + "\n"
                          for n in range(start, start + 1000)).encode()
        yield b'{"value": {"type": "BINARY", "data": "not base64!"}}'
        yield b'{"value": {"type": "STRING", "data": "last"}}'

    got = answers(requests.post(records_url(rest, topic), data=body(),
                                headers={"Content-Type": "application/json"}, timeout=300))
    assert len(got) == total + 2
    assert all(a["error_code"] == 200 for a in got[:total]), [a for a in got[:total] if a["error_code"] != 200][:3]
    assert got[total] == {"error_code": 400, "message": 'Bad Request: data="not base64!" is not a valid base64 string.'}
    assert got[total + 1]["error_code"] == 200
    # Per partition, offsets come back dense and increasing in input order: the answers are in order.
    by_partition: dict[int, list[int]] = {}
    for a in got[:total] + got[total + 1:]:
        by_partition.setdefault(a["partition_id"], []).append(a["offset"])
    assert all(offsets == list(range(len(offsets))) for offsets in by_partition.values())
    ends = {p: requests.get(f"{records_url(rest, topic, 'partitions')}/{p}/offset", timeout=10).json()["latest_offset"]
            for p in range(3)}
    assert sum(ends.values()) == total + 1


def test_stream_is_full_duplex_an_answer_comes_before_the_next_record_is_sent(platform):
    broker, rest, _ = platform
    topic = unique_topic("v3-duplex")
    create_topic(broker.bootstrap, topic, 1)
    path = records_url(rest, topic).removeprefix(rest.url)
    with socket.create_connection(("127.0.0.1", rest.port), timeout=20) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        reader = sock.makefile("rb")
        for n in range(3):
            chunk = json.dumps({"value": {"type": "STRING", "data": f"r{n}"}}).encode()
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if n == 0:  # the response starts once the first record is read
                status = reader.readline()
                assert b"200" in status, status
                while reader.readline().strip():
                    pass
            line = _next_answer(reader)
            assert line["error_code"] == 200 and line["offset"] == n, line
        sock.sendall(b"0\r\n\r\n")
        assert reader.readline().strip() == b"0"  # the response's last chunk: the stream ended


def _next_answer(reader) -> dict:
    """The next non-empty answer of a chunked response (chunk sizes and blank lines skipped)."""
    while True:
        size = reader.readline().strip()
        assert size, "the proxy closed the stream"
        data = reader.read(int(size, 16) + 2)
        text = data.decode().strip()
        if text:
            return json.loads(text.split("\r\n")[0])


def test_avro_by_inline_schema_id_version_and_latest_writes_confluents_bytes(platform):
    broker, rest, registry = platform
    topic = unique_topic("v3-avro")
    create_topic(broker.bootstrap, topic, 1)
    url = records_url(rest, topic)
    inline = answers(requests.post(url, json={"value": {"type": "AVRO", "schema": json.dumps(ORDER),
                                                        "data": {"id": 1, "note": None}}}, timeout=30))[0]
    assert inline["value"]["subject"] == f"{topic}-value" and inline["value"]["schema_version"] == 1, inline
    schema_id = inline["value"]["schema_id"]
    by_id = {"value": {"schema_id": schema_id, "data": {"id": 2, "note": {"string": "two"}}}}
    by_version = {"value": {"schema_version": 1, "data": {"id": 3, "note": None}}}
    latest = {"value": {"data": {"id": 4, "note": None}}}
    stream = "\n".join(json.dumps(r) for r in (by_id, by_version, latest))
    got = answers(requests.post(url, data=stream, headers={"Content-Type": "application/json"}, timeout=30))
    assert [a["value"]["schema_id"] for a in got] == [schema_id] * 3 and all(a["value"]["type"] == "AVRO" for a in got)
    records = read_back(broker.bootstrap, topic, 0, 4)
    confluent = ConfluentAvroSerializer(ConfluentRegistryClient({"url": registry.url}), json.dumps(ORDER),
                                        conf={"auto.register.schemas": False, "use.latest.version": True})
    ctx = ConfluentContext(topic, MessageField.VALUE)
    assert [m.value() for m in records] == [confluent(v, ctx) for v in (
        {"id": 1, "note": None}, {"id": 2, "note": "two"}, {"id": 3, "note": None}, {"id": 4, "note": None})]

    # RECORD_NAME names the subject after the record; data that does not fit is that record's 400.
    named = answers(requests.post(url, json={"value": {"type": "AVRO", "schema": json.dumps(ORDER),
                                                       "subject_name_strategy": "RECORD_NAME",
                                                       "data": {"id": 5}}}, timeout=30))[0]
    assert named["value"]["subject"] == "shop.Order", named
    bad = answers(requests.post(url, json={"value": {"schema_id": schema_id, "data": {"x": 1}}}, timeout=30))[0]
    assert bad["error_code"] == 400, bad
    missing = answers(requests.post(url, json={"value": {"schema_version": 7, "data": {"id": 1}}}, timeout=30))[0]
    assert missing == {"error_code": 400,
                       "message": f"Bad Request: Schema does not exist for subject: {topic}-value, version: 7"}


def test_jsonschema_and_protobuf_values_read_back_through_our_deserializers(platform):
    broker, rest, registry = platform
    topic = unique_topic("v3-formats")
    create_topic(broker.bootstrap, topic, 1)
    url = records_url(rest, topic)
    json_schema = json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
    proto = 'syntax = "proto3"; message Reading { string sensor = 1; double value = 2; }'
    got = answers(requests.post(url, data=json.dumps(
        {"key": {"type": "JSONSCHEMA", "schema": json_schema, "data": {"n": 7}},
         "value": {"type": "PROTOBUF", "schema": proto, "data": {"sensor": "s1", "value": 2.5}}}),
        headers={"Content-Type": "application/json"}, timeout=30))[0]
    assert got["key"]["type"] == "JSONSCHEMA" and got["key"]["subject"] == f"{topic}-key", got
    assert got["value"]["type"] == "PROTOBUF" and got["value"]["subject"] == f"{topic}-value", got
    (record,) = read_back(broker.bootstrap, topic, 0, 1)
    client = SchemaRegistryClient({"url": registry.url})
    assert JSONDeserializer(schema_registry_client=client)(record.key(), SerializationContext(topic, "key")) == {"n": 7}
    reading = ProtobufDeserializer(schema_registry_client=client)(record.value(), SerializationContext(topic, "value"))
    assert (reading.sensor, reading.value) == ("s1", 2.5)
    invalid = answers(requests.post(url, json={"key": {"type": "JSONSCHEMA", "schema": json_schema,
                                                       "data": {"n": "seven"}}}, timeout=30))[0]
    assert invalid["error_code"] == 400, invalid


def test_records_batch_answers_207_with_successes_and_failures(platform):
    broker, rest, _ = platform
    topic = unique_topic("v3-batch")
    create_topic(broker.bootstrap, topic, 1)
    url = records_url(rest, topic, "records:batch")
    entries = [{"id": "a", "value": {"type": "STRING", "data": "x"}},
               {"id": "b", "value": {"type": "BINARY", "data": "%%%"}},
               {"id": "c", "partition_id": 0, "key": {"type": "JSON", "data": 1}}]
    response = requests.post(url, json={"entries": entries}, timeout=30)
    assert response.status_code == 207, response.text
    body = response.json()
    assert sorted(s["id"] for s in body["successes"]) == ["a", "c"]
    assert body["failures"] == [{"id": "b", "error_code": 400,
                                 "message": 'Bad Request: data="%%%" is not a valid base64 string.'}]
    assert sorted(s["offset"] for s in body["successes"]) == [0, 1]
    for bad, message in (({"entries": []}, "Empty batch."),
                         ({"entries": [{"id": "x"}, {"id": "x"}]}, "Batch entry IDs are not distinct."),
                         ({"entries": [{"id": str(n)} for n in range(11)]}, "Too many entries in batch."),
                         ({"entries": [{"id": 1}]}, "Batch entry identifier is not a valid string.")):
        answer = requests.post(url, json=bad, timeout=10)
        assert (answer.status_code, answer.json()) == (422, {"error_code": 42208, "message": message})


def test_bad_requests_get_kafka_rests_errors_and_write_nothing(platform):
    broker, rest, _ = platform
    topic = unique_topic("v3-bad")
    create_topic(broker.bootstrap, topic, 1)
    url = records_url(rest, topic)
    post = lambda data, ctype="application/json", to=url: requests.post(  # noqa: E731
        to, data=data, headers={"Content-Type": ctype}, timeout=10)
    assert post(b"").json() == {"error_code": 42206, "message": "Payload error. Request body is empty. Data is required."}
    assert post(b'{"value": ', ).status_code == 400
    assert post(b'{"value": {"type": "STRING", "data": "x"}}', "text/plain").status_code == 415
    assert post(b"{}", to=url.replace(topic, "no-such-topic")).json() == {
        "error_code": 404, "message": "Topic no-such-topic cannot be found."}
    assert post(b"{}", to=url.replace(cluster_id(rest), "nope")).status_code == 404
    # In a stream: a record for a missing partition fails alone; a syntax error ends the stream.
    got = answers(post(b'{"partition_id": 5, "value": {"type": "STRING", "data": "x"}}'
                       b'{"value": {"type": "STRING", "data": "ok"}} {"value": nope} {"value": {"type": "STRING"}}'))
    assert [a["error_code"] for a in got] == [404, 200, 400], got
    assert got[0]["message"] == "Partition not found."
    offsets = requests.get(f"{records_url(rest, topic, 'partitions')}/0/offset", timeout=10).json()
    assert offsets["latest_offset"] == 1
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": topic})
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 1)
    finally:
        consumer.close()


def test_ill_typed_fields_fail_their_record_and_the_stream_goes_on(platform):
    broker, rest, _ = platform
    topic = unique_topic("v3-ill-typed")
    create_topic(broker.bootstrap, topic, 1)
    url = records_url(rest, topic)
    bad = [{"value": {"type": {}}}, {"value": {"type": []}},
           {"value": {"type": "AVRO", "subject_name_strategy": {"a": 1}}},
           {"value": {"type": "STRING", "data": "x"}, "timestamp": "1969-12-31T23:59:59Z"},
           {"value": {"type": "BINARY", "data": base64.b64encode(b"x" * (2 * 1024 * 1024)).decode()}}]
    body = "".join(json.dumps(r) for r in bad) + json.dumps({"value": {"type": "STRING", "data": "after"}})
    got = answers(requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30))
    assert [a["error_code"] for a in got] == [400, 400, 400, 400, 413, 200], got
    batch = requests.post(records_url(rest, topic, "records:batch"),
                          json={"entries": [{"id": "0", "value": {"type": {}}}]}, timeout=30)
    assert batch.status_code == 207 and batch.json()["failures"][0]["error_code"] == 400, batch.text
