"""Schema-governed topics: the broker refuses records that break their topic's schema rules."""

from __future__ import annotations

import json
import struct

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from serdes import MessageField, Schema, SchemaRegistryClient, SerializationContext
from serdes.avro import AvroSerializer
from tests.conftest import BrokerProcess, free_port, unique_topic
from tests.integration.test_broker_clients import consume_all_confluent
from tests.registry.conftest import RegistryProcess

USER = {"type": "record", "name": "User", "namespace": "gov", "fields": [
    {"name": "id", "type": "long"}, {"name": "name", "type": "string"}]}


@pytest.fixture
def governed(tmp_path):
    """Broker pointed at a registry that stores its schemas in that same broker."""
    registry_port = free_port()
    broker = BrokerProcess(tmp_path / "broker", {"confluent.schema.registry.url": f"http://127.0.0.1:{registry_port}",
                                                  "group.initial.rebalance.delay.ms": "0"}).start()
    registry = RegistryProcess(broker.bootstrap, tmp_path, port=registry_port).start()
    yield broker, registry
    registry.stop()
    broker.stop()


def _create(bootstrap: str, topic: str, configs: dict) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config=configs)])[topic].result(10)


def _send(bootstrap: str, topic: str, values: list, timeout_ms: int = 10000) -> list:
    """Produce each value; returns the delivery error (or None) of each."""
    delivered = object()
    results: list = [None] * len(values)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "message.timeout.ms": timeout_ms})
    for i, v in enumerate(values):
        producer.produce(topic, v, on_delivery=lambda err, msg, i=i: results.__setitem__(i, err or delivered))
        producer.flush(timeout_ms / 1000 + 5)
    assert all(r is not None for r in results), "every record got a delivery report"
    return [None if r is delivered else r for r in results]


def test_id_mode(governed):
    broker, registry = governed
    client = SchemaRegistryClient({"url": registry.url})
    topic, other = unique_topic("gov"), unique_topic("other")
    _create(broker.bootstrap, topic, {"confluent.value.schema.validation": "true"})
    _create(broker.bootstrap, other, {})
    good = AvroSerializer(client, json.dumps(USER))({"id": 1, "name": "a"}, SerializationContext(topic, MessageField.VALUE))
    foreign = AvroSerializer(client, json.dumps({**USER, "name": "Other"}))(
        {"id": 1, "name": "a"}, SerializationContext(other, MessageField.VALUE))

    errors = _send(broker.bootstrap, topic, [b"raw bytes", good, foreign, b"\x00" + struct.pack(">I", 99999) + b"x",
                                             None])
    assert errors[0].code() == KafkaError.INVALID_RECORD
    assert errors[1] is None
    assert errors[2].code() == KafkaError.INVALID_RECORD  # id registered only under another subject
    assert errors[3].code() == KafkaError.INVALID_RECORD  # unknown id
    assert errors[4] is None  # tombstones pass
    got = consume_all_confluent(broker.bootstrap, topic, 2, partitions=1)
    assert [m.value() for m in got] == [good, None]
    # Ungoverned topics take anything.
    assert _send(broker.bootstrap, other, [b"raw bytes"]) == [None]


def test_refusal_names_record_and_reason(governed):
    from tests.kafka_wire import RawClient
    from broker import records

    broker, registry = governed
    topic = unique_topic("gov-wire")
    _create(broker.bootstrap, topic, {"confluent.value.schema.validation": "true"})
    client = SchemaRegistryClient({"url": registry.url})
    good = AvroSerializer(client, json.dumps(USER))({"id": 1, "name": "a"}, SerializationContext(topic, MessageField.VALUE))
    batch = records.encode_batch([records.Record(i, 1, None, v) for i, v in enumerate([good, b"nope", good])],
                                 codec=records.LZ4)
    resp = RawClient(broker.bootstrap).call(0, 9, {"acks": -1, "timeout": 5000, "topic_data": [
        {"name": topic, "partition_data": [{"index": 0, "records": bytes(batch)}]}]})
    part = resp["responses"][0]["partition_responses"][0]
    assert part["error_code"] == 87  # INVALID_RECORD
    assert [e["batch_index"] for e in part["record_errors"]] == [1]
    assert "no magic byte" in part["record_errors"][0]["batch_index_error_message"]
    assert consume_all_confluent(broker.bootstrap, topic, 1, partitions=1, idle_polls=5) == []  # nothing appended


def test_payload_mode_refuses_corrupt_avro(governed):
    broker, registry = governed
    client = SchemaRegistryClient({"url": registry.url})
    topic = unique_topic("gov-payload")
    _create(broker.bootstrap, topic, {"confluent.value.schema.validation": "true",
                                      "schemabus.schema.validation.mode": "payload"})
    good = AvroSerializer(client, json.dumps(USER))({"id": 1, "name": "abc"}, SerializationContext(topic, MessageField.VALUE))
    corrupt = good[:5] + b"\x02\xff\xff\xff"  # id 1 then a string length running past the end
    trailing = good + b"junk"
    errors = _send(broker.bootstrap, topic, [good, corrupt, trailing])
    assert errors[0] is None
    assert errors[1].code() == KafkaError.INVALID_RECORD and errors[2].code() == KafkaError.INVALID_RECORD


def test_registry_down_fails_closed_for_governed_topics_only(governed):
    broker, registry = governed
    client = SchemaRegistryClient({"url": registry.url})
    topic, plain = unique_topic("gov-down"), unique_topic("plain")
    _create(broker.bootstrap, topic, {"confluent.value.schema.validation": "true"})
    _create(broker.bootstrap, plain, {})
    new_schema = {**USER, "name": "Fresh"}
    fresh = AvroSerializer(client, json.dumps(new_schema))({"id": 2, "name": "b"},
                                                            SerializationContext(topic, MessageField.VALUE))
    registry.stop()
    errors = _send(broker.bootstrap, topic, [fresh], timeout_ms=3000)
    assert errors[0] is not None and errors[0].code() in (KafkaError.REQUEST_TIMED_OUT, KafkaError._MSG_TIMED_OUT)
    assert _send(broker.bootstrap, plain, [b"anything"]) == [None]
    registry.start()
    assert _send(broker.bootstrap, topic, [fresh]) == [None]  # retried once the registry is back


def test_configs_survive_restart_and_alter(governed):
    broker, registry = governed
    topic = unique_topic("gov-cfg")
    _create(broker.bootstrap, topic, {})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("confluent.value.schema.validation", "true", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("confluent.value.subject.name.strategy",
                    "io.confluent.kafka.serializers.subject.RecordNameStrategy",
                    incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result(10)
    assert _send(broker.bootstrap, topic, [b"raw"])[0].code() == KafkaError.INVALID_RECORD

    client = SchemaRegistryClient({"url": registry.url})
    client.register_schema("gov.User", Schema(json.dumps(USER)))
    by_record_name = AvroSerializer(client, json.dumps(USER), conf={"auto.register.schemas": False,
                                                                     "subject.name.strategy": "RecordNameStrategy"})
    value = by_record_name({"id": 3, "name": "c"}, SerializationContext(topic, MessageField.VALUE))
    assert _send(broker.bootstrap, topic, [value]) == [None]

    registry.stop()
    broker.restart()
    registry.start()
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    configs = admin.describe_configs([res])[res].result(10)
    assert configs["confluent.value.schema.validation"].value == "true"
    assert _send(broker.bootstrap, topic, [b"raw"])[0].code() == KafkaError.INVALID_RECORD
    assert _send(broker.bootstrap, topic, [value]) == [None]


def test_payload_mode_json_and_protobuf(governed, tmp_path):
    from serdes.json_schema import JSONSerializer

    broker, registry = governed
    client = SchemaRegistryClient({"url": registry.url})
    topic = unique_topic("gov-json")
    _create(broker.bootstrap, topic, {"confluent.value.schema.validation": "true",
                                      "schemabus.schema.validation.mode": "payload"})
    schema = json.dumps({"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}},
                         "required": ["qty"]})
    good = JSONSerializer(schema, client)({"qty": 2}, SerializationContext(topic, MessageField.VALUE))
    breaks = good[:5] + b'{"qty": 0}'
    not_json = good[:5] + b"{qty"
    errors = _send(broker.bootstrap, topic, [good, breaks, not_json])
    assert errors[0] is None
    assert errors[1].code() == KafkaError.INVALID_RECORD and errors[2].code() == KafkaError.INVALID_RECORD

    proto_topic = unique_topic("gov-proto")
    _create(broker.bootstrap, proto_topic, {"confluent.value.schema.validation": "true",
                                            "schemabus.schema.validation.mode": "payload"})
    from formats import provider
    from serdes.protobuf import ProtobufSerializer

    cls = provider("PROTOBUF").parse('syntax = "proto3"; package gov; message Ping { int64 n = 1; }').message_class()
    good = ProtobufSerializer(cls, client)(cls(n=5), SerializationContext(proto_topic, MessageField.VALUE))
    corrupt = good[:6] + b"\x08\xff\xff"  # a varint that never ends
    errors = _send(broker.bootstrap, proto_topic, [good, corrupt])
    assert errors[0] is None and errors[1].code() == KafkaError.INVALID_RECORD
