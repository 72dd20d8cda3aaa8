"""Avro serdes: byte-compatible with confluent-kafka's, through a real broker and registry."""

from __future__ import annotations

import json
import struct

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.schema_registry import Schema as CSchema
from confluent_kafka.schema_registry import SchemaReference as CRef
from confluent_kafka.schema_registry.avro import AvroDeserializer as CAvroDeserializer
from confluent_kafka.schema_registry.avro import AvroSerializer as CAvroSerializer
from confluent_kafka.serialization import MessageField as CField
from confluent_kafka.serialization import SerializationContext as CContext

from serdes import MessageField, Schema, SchemaReference, SchemaRegistryClient, SerializationContext, \
    SerializationError, record_subject_name_strategy
from serdes.avro import AvroDeserializer, AvroSerializer
from serdes.kafka import DeserializingConsumer, SerializingProducer
from tests.conftest import unique_topic

USER_V1 = {"type": "record", "name": "User", "namespace": "example", "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "email", "type": ["null", "string"], "default": None},
    {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
]}
USER_V2 = {**USER_V1, "fields": USER_V1["fields"] + [{"name": "age", "type": "int", "default": -1}]}
USER = {"id": 7, "name": "Ada", "email": "ada@example.com", "tags": ["x", "y"]}


def test_ours_to_theirs_and_back(client, confluent_client):
    topic = unique_topic("avro")
    ctx, cctx = SerializationContext(topic, MessageField.VALUE), CContext(topic, CField.VALUE)
    ours = AvroSerializer(client, json.dumps(USER_V1))
    data = ours(USER, ctx)
    assert data[0] == 0
    assert CAvroDeserializer(confluent_client)(data, cctx) == USER

    theirs = CAvroSerializer(confluent_client, json.dumps(USER_V1))
    their_bytes = theirs(USER, cctx)
    assert their_bytes == data  # same schema id, same encoding
    assert AvroDeserializer(client)(their_bytes, ctx) == USER


def test_references_to_other_subjects(client, confluent_client):
    topic = unique_topic("avroref")
    address = {"type": "record", "name": "Address", "namespace": "example",
               "fields": [{"name": "city", "type": "string"}]}
    client.register_schema("example.Address", Schema(json.dumps(address)))
    person = {"type": "record", "name": "Person", "namespace": "example",
              "fields": [{"name": "name", "type": "string"}, {"name": "home", "type": "example.Address"}]}
    schema = Schema(json.dumps(person), "AVRO", (SchemaReference("example.Address", "example.Address", 1),))
    ctx = SerializationContext(topic, MessageField.VALUE)
    value = {"name": "Grace", "home": {"city": "Arlington"}}
    data = AvroSerializer(client, schema)(value, ctx)
    assert AvroDeserializer(client)(data, ctx) == value
    cschema = CSchema(json.dumps(person), "AVRO", [CRef("example.Address", "example.Address", 1)])
    assert CAvroDeserializer(confluent_client)(data, CContext(topic, CField.VALUE)) == value
    their = CAvroSerializer(confluent_client, cschema, conf={"auto.register.schemas": False,
                                                             "use.latest.version": True})
    assert AvroDeserializer(client)(their(value, CContext(topic, CField.VALUE)), ctx) == value


def test_reader_schema_evolution(client):
    topic = unique_topic("evolve")
    ctx = SerializationContext(topic, MessageField.VALUE)
    old_bytes = AvroSerializer(client, json.dumps(USER_V1))(USER, ctx)
    reader = AvroDeserializer(client, json.dumps(USER_V2))
    assert reader(old_bytes, ctx) == {**USER, "age": -1}
    new_bytes = AvroSerializer(client, json.dumps(USER_V2))({**USER, "age": 36}, ctx)
    assert AvroDeserializer(client)(new_bytes, ctx)["age"] == 36


def test_record_name_strategy_and_latest_version(client):
    topic = unique_topic("strategy")
    ctx = SerializationContext(topic, MessageField.VALUE)
    ser = AvroSerializer(client, json.dumps(USER_V1), conf={"subject.name.strategy": record_subject_name_strategy})
    ser(USER, ctx)
    assert client.get_latest_version("example.User").schema_id == struct.unpack(">I", ser(USER, ctx)[1:5])[0]
    latest = AvroSerializer(client, json.dumps(USER_V1), conf={"use.latest.version": True, "auto.register.schemas": False,
                                                "subject.name.strategy": "io.confluent.kafka.serializers."
                                                                         "subject.RecordNameStrategy"})
    assert AvroDeserializer(client)(latest(USER, SerializationContext("any", MessageField.VALUE)),
                                    ctx) == USER


def test_bad_input_is_a_clear_serialization_error(client, serdes_platform):
    topic = unique_topic("bad")
    ctx = SerializationContext(topic, MessageField.VALUE, partition=2, offset=41)
    good = AvroSerializer(client, json.dumps(USER_V1))(USER, ctx)
    de = AvroDeserializer(client)
    with pytest.raises(SerializationError, match="magic byte"):
        de(b"\x01" + good[1:], ctx)
    with pytest.raises(SerializationError, match="schema id 99999"):
        de(b"\x00" + struct.pack(">I", 99999) + good[5:], ctx)
    with pytest.raises(SerializationError, match="partition 2, offset 41"):
        de(good[:-3], ctx)
    with pytest.raises(SerializationError, match="shorter than"):
        de(b"\x00\x00", ctx)
    with pytest.raises(SerializationError, match="does not match"):
        AvroSerializer(client, json.dumps(USER_V1))({"id": "not-a-long", "name": 3}, ctx)
    down = SchemaRegistryClient({"url": "http://127.0.0.1:9", "max.retries": 0, "timeout": 2})
    with pytest.raises(SerializationError, match="cannot reach"):
        AvroSerializer(down, json.dumps(USER_V1))(USER, ctx)


def test_produce_and_consume_through_broker_and_registry(serdes_platform, client):
    broker, registry = serdes_platform
    topic = unique_topic("e2e")
    producer = SerializingProducer({"bootstrap.servers": broker.bootstrap,
                                    "key.serializer": lambda k, ctx: k.encode(),
                                    "value.serializer": AvroSerializer(client, json.dumps(USER_V1))})
    for i in range(200):
        producer.produce(topic, key=f"user-{i}", value={**USER, "id": i})
    assert producer.flush(15) == 0

    consumer = DeserializingConsumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused",
                                      "enable.auto.commit": False,
                                      "key.deserializer": lambda k, ctx: k.decode(),
                                      "value.deserializer": AvroDeserializer(client, json.dumps(USER_V2))})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    for _ in range(200):
        msg = consumer.poll(5)
        assert msg is not None and msg.error() is None
        got.append((msg.key(), msg.value()))
        if len(got) == 200:
            break
    consumer.close()
    assert got == [(f"user-{i}", {**USER, "id": i, "age": -1}) for i in range(200)]


def test_client_fails_over_to_the_next_url(serdes_platform):
    _, registry = serdes_platform
    client = SchemaRegistryClient({"url": f"http://127.0.0.1:9,{registry.url}", "max.retries": 1})
    subject = unique_topic("failover")
    schema_id = client.register_schema(subject, Schema(json.dumps(USER_V1)))
    assert client.get_schema(schema_id).schema_str  # cached, and the live URL is now preferred
    assert client.get_latest_version(subject).schema_id == schema_id
    dead = SchemaRegistryClient({"url": "http://127.0.0.1:9", "max.retries": 1, "retries.wait.ms": 10})
    with pytest.raises(Exception) as exc:
        dead.get_subjects()
    assert exc.value.http_status == -1 and "cannot reach" in str(exc.value)
