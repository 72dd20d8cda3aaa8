"""v2 produce with the avro, jsonschema and protobuf embedded formats: schemas inline (registered
under <topic>-value) or by id, records read back with our deserializers and compared byte for byte
with what confluent-kafka's serializers write; kafka-rest's schema errors."""

from __future__ import annotations

import json

import requests
from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer as ConfluentAvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext as ConfluentContext

from registry_client import SchemaRegistryClient
from serdes.avro import AvroDeserializer
from serdes.json_schema import JSONDeserializer
from serdes.protobuf import ProtobufDeserializer
from serdes.serialization import SerializationContext
from tests.conftest import unique_topic
from tests.rest.test_v2_topics import create_topic, read_back

AVRO = "application/vnd.kafka.avro.v2+json"
JSONSCHEMA = "application/vnd.kafka.jsonschema.v2+json"
PROTOBUF = "application/vnd.kafka.protobuf.v2+json"
ORDER = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "long"},
                                                       {"name": "note", "type": ["null", "string"], "default": None}]}


def produce(rest, topic: str, content_type: str, body: dict) -> requests.Response:
    return requests.post(f"{rest.url}/topics/{topic}", json=body, headers={"Content-Type": content_type}, timeout=30)


def test_avro_inline_schema_registers_and_writes_confluents_bytes(platform):
    broker, rest, registry = platform
    topic = unique_topic("rest-avro")
    create_topic(broker.bootstrap, topic, 1)
    records = [{"value": {"id": 1, "note": None}}, {"value": {"id": 2, "note": {"string": "two"}}, "key": None}]
    answer = produce(rest, topic, AVRO, {"value_schema": json.dumps(ORDER), "records": records})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["key_schema_id"] is None and isinstance(body["value_schema_id"], int)
    assert [o["offset"] for o in body["offsets"]] == [0, 1]
    versions = requests.get(f"{registry.url}/subjects/{topic}-value/versions", timeout=10).json()
    assert versions == [1]
    got = read_back(broker.bootstrap, topic, 0, 2)
    confluent = ConfluentAvroSerializer(ConfluentRegistryClient({"url": registry.url}), json.dumps(ORDER),
                                        conf={"auto.register.schemas": False, "use.latest.version": True})
    expected = [confluent({"id": 1, "note": None}, ConfluentContext(topic, MessageField.VALUE)),
                confluent({"id": 2, "note": "two"}, ConfluentContext(topic, MessageField.VALUE))]
    assert [m.value() for m in got] == expected  # byte-exact wire format
    read = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    assert [read(m.value(), SerializationContext(topic, "value")) for m in got] == [
        {"id": 1, "note": None}, {"id": 2, "note": "two"}]

    # By id, the same id comes back; data that does not fit the schema is a 400 and writes nothing.
    again = produce(rest, topic, AVRO, {"value_schema_id": body["value_schema_id"], "records": [{"value": {"id": 3}}]})
    assert again.status_code == 200 and again.json()["value_schema_id"] == body["value_schema_id"], again.text
    wrong = produce(rest, topic, AVRO, {"value_schema_id": body["value_schema_id"], "records": [{"value": {"x": 1}}]})
    assert (wrong.status_code, wrong.json()["error_code"]) == (400, 400), wrong.text
    assert requests.get(f"{rest.url}/topics/{topic}/partitions/0/offsets", timeout=10).json()["end_offset"] == 3


def test_jsonschema_and_protobuf_round_trip_through_our_deserializers(platform):
    broker, rest, registry = platform
    client = SchemaRegistryClient({"url": registry.url})
    topic = unique_topic("rest-js")
    create_topic(broker.bootstrap, topic, 1)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    answer = produce(rest, topic, JSONSCHEMA, {"value_schema": json.dumps(schema),
                                               "records": [{"value": {"n": 5}}, {"value": {"n": 6}}]})
    assert answer.status_code == 200, answer.text
    read = JSONDeserializer(schema_registry_client=client)
    values = [read(m.value(), SerializationContext(topic, "value")) for m in read_back(broker.bootstrap, topic, 0, 2)]
    assert values == [{"n": 5}, {"n": 6}]
    invalid = produce(rest, topic, JSONSCHEMA, {"value_schema": json.dumps(schema), "records": [{"value": {"n": "x"}}]})
    assert invalid.status_code == 400, invalid.text

    topic = unique_topic("rest-pb")
    create_topic(broker.bootstrap, topic, 1)
    proto = 'syntax = "proto3"; package shop; message Item { string sku = 1; int32 count = 2; }'
    answer = produce(rest, topic, PROTOBUF, {"value_schema": proto, "key_schema": proto,
                                             "records": [{"key": {"sku": "k"}, "value": {"sku": "a", "count": 2}}]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["key_schema_id"] == answer.json()["value_schema_id"]  # the same schema, two subjects
    (message,) = read_back(broker.bootstrap, topic, 0, 1)
    item = ProtobufDeserializer(schema_registry_client=client)(message.value(),
                                                          SerializationContext(topic, "value"))
    assert (item.sku, item.count) == ("a", 2)


def test_schema_errors_are_kafka_rests(platform):
    broker, rest, _ = platform
    topic = unique_topic("rest-schema-errors")
    create_topic(broker.bootstrap, topic, 1)
    cases = [
        ({"records": [{"value": {"id": 1}}]}, 422, 42202),
        ({"value_schema": json.dumps(ORDER), "records": [{"key": "k", "value": {"id": 1}}]}, 422, 42201),
        ({"value_schema_id": 987654, "records": [{"value": {"id": 1}}]}, 422, 42207),
        ({"value_schema": "{not a schema", "records": [{"value": {"id": 1}}]}, 400, 400),
        ({"value_schema": json.dumps(ORDER), "value_schema_id": 1, "records": [{"value": {"id": 1}}]}, 400, 400),
    ]
    for body, status, code in cases:
        answer = produce(rest, topic, AVRO, body)
        assert (answer.status_code, answer.json()["error_code"]) == (status, code), (body, answer.text)
    assert requests.get(f"{rest.url}/topics/{topic}/partitions/0/offsets", timeout=10).json()["end_offset"] == 0
