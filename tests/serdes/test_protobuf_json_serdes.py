"""Protobuf and JSON Schema serdes: byte-compatible with confluent-kafka's, on our registry."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import textwrap

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.schema_registry import Schema as CSchema
from confluent_kafka.schema_registry import SchemaReference as CRef
from confluent_kafka.schema_registry.json_schema import JSONDeserializer as CJSONDeserializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer as CJSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer as CProtobufDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer as CProtobufSerializer
from confluent_kafka.serialization import MessageField as CField
from confluent_kafka.serialization import SerializationContext as CContext

from serdes import MessageField, Schema, SchemaReference, SerializationContext, SerializationError
from serdes.json_schema import JSONDeserializer, JSONSerializer
from serdes.kafka import DeserializingConsumer, SerializingProducer
from serdes.protobuf import ProtobufDeserializer, ProtobufSerializer
from tests.conftest import REPO, unique_topic

ORDER_PROTO = textwrap.dedent("""\
    syntax = "proto3";
    package shop;
    import "address.proto";
    message Order {
      int64 id = 1;
      schemabus.example.Address ship_to = 2;
      message Line {
        string sku = 1;
        int32 quantity = 2;
        message Note { string text = 1; }
      }
      repeated Line lines = 3;
    }
    message Refund { int64 order_id = 1; string reason = 2; }
""")


@pytest.fixture(scope="module")
def pb2(tmp_path_factory):
    """Generated classes for order.proto (which imports the example address.proto)."""
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("pb2")
    shutil.copy(REPO / "schemas" / "address.proto", out / "address.proto")
    (out / "order.proto").write_text(ORDER_PROTO)
    import grpc_tools

    include = str(importlib.resources.files(grpc_tools) / "_proto")
    assert protoc.main(["protoc", f"-I{out}", f"-I{include}", f"--python_out={out}",
                        str(out / "address.proto"), str(out / "order.proto")]) == 0
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("order_pb2")
    finally:
        sys.path.remove(str(out))


def _order(pb2):
    order = pb2.Order(id=42)
    order.ship_to.city = "Porto"
    line = order.lines.add()
    line.sku, line.quantity = "abc", 2
    return order


def test_protobuf_ours_and_theirs_read_each_other(pb2, client, confluent_client):
    topic = unique_topic("pb")
    ctx, cctx = SerializationContext(topic, MessageField.VALUE), CContext(topic, CField.VALUE)
    order = _order(pb2)
    ours = ProtobufSerializer(pb2.Order, client)(order, ctx)
    assert ours[5] == 0  # message index [0] as the single byte 0x00
    assert CProtobufDeserializer(pb2.Order, {"use.deprecated.format": False})(ours, cctx) == order
    theirs = CProtobufSerializer(pb2.Order, confluent_client, {"use.deprecated.format": False})(order, cctx)
    assert ProtobufDeserializer(pb2.Order)(theirs, ctx) == order
    # The import was registered as its own subject, named by file name, and referenced.
    assert "address.proto" in client.get_subjects()


def test_protobuf_nested_message_index_and_dynamic_messages(pb2, client, confluent_client):
    topic = unique_topic("pb-nested")
    ctx, cctx = SerializationContext(topic, MessageField.VALUE), CContext(topic, CField.VALUE)
    note = pb2.Order.Line.Note(text="fragile")
    data = ProtobufSerializer(pb2.Order.Line.Note, client)(note, ctx)
    assert CProtobufDeserializer(pb2.Order.Line.Note, {"use.deprecated.format": False})(data, cctx) == note
    refund = pb2.Refund(order_id=7, reason="late")
    refund_bytes = CProtobufSerializer(pb2.Refund, confluent_client, {"use.deprecated.format": False})(
        refund, CContext(unique_topic("pb-refund"), CField.VALUE))
    dynamic = ProtobufDeserializer(schema_registry_client=client)
    decoded_note = dynamic(data, ctx)  # no generated code: built from the registry's schema
    assert decoded_note.DESCRIPTOR.full_name == "shop.Order.Line.Note" and decoded_note.text == "fragile"
    decoded_refund = dynamic(refund_bytes, ctx)
    assert decoded_refund.DESCRIPTOR.full_name == "shop.Refund" and decoded_refund.reason == "late"
    decoded_order = dynamic(ProtobufSerializer(pb2.Order, client)(_order(pb2), ctx), ctx)
    assert decoded_order.ship_to.city == "Porto" and decoded_order.lines[0].quantity == 2


def test_protobuf_bad_input(pb2, client):
    ctx = SerializationContext(unique_topic("pb-bad"), MessageField.VALUE, partition=1, offset=9)
    data = ProtobufSerializer(pb2.Order, client)(_order(pb2), ctx)
    with pytest.raises(SerializationError, match="magic byte"):
        ProtobufDeserializer(pb2.Order)(b"\x07" + data[1:], ctx)
    with pytest.raises(SerializationError, match="partition 1, offset 9"):
        ProtobufDeserializer(pb2.Order)(data[:-4], ctx)
    with pytest.raises(SerializationError, match="expected a shop.Order"):
        ProtobufSerializer(pb2.Order, client)(pb2.Refund(), ctx)


USER_JSON = (REPO / "schemas" / "user.json").read_text()
ADDRESS_JSON = (REPO / "schemas" / "address.json").read_text()


def test_json_ours_and_theirs_read_each_other(client, confluent_client):
    topic = unique_topic("json")
    ctx, cctx = SerializationContext(topic, MessageField.VALUE), CContext(topic, CField.VALUE)
    client.register_schema("address.json", Schema(ADDRESS_JSON, "JSON"))
    schema = Schema(USER_JSON, "JSON", (SchemaReference("address.json", "address.json", 1),))
    user = {"id": 1, "name": "Ada", "email": None, "roles": ["admin"],
            "address": {"street": "1 Rua Direita", "city": "Porto", "postcode": "4000-123"}}
    ours = JSONSerializer(schema, client)(user, ctx)
    cschema = CSchema(USER_JSON, "JSON", [CRef("address.json", "address.json", 1)])
    assert CJSONDeserializer(cschema, schema_registry_client=confluent_client)(ours, cctx) == user
    theirs = CJSONSerializer(cschema, confluent_client)(user, cctx)
    assert JSONDeserializer(schema, schema_registry_client=client)(theirs, ctx) == user
    assert JSONDeserializer(schema_registry_client=client, conf={"validate": True})(ours, ctx) == user


def test_json_documents_that_break_the_schema_are_refused(client):
    topic = unique_topic("json-bad")
    ctx = SerializationContext(topic, MessageField.VALUE)
    schema = json.dumps({"type": "object", "properties": {"n": {"type": "integer", "maximum": 10}},
                         "required": ["n"], "additionalProperties": False})
    ser = JSONSerializer(schema, client)
    assert JSONDeserializer(schema)(ser({"n": 3}, ctx), ctx) == {"n": 3}
    for bad in ({"n": 11}, {"n": "3"}, {}, {"n": 1, "extra": True}):
        with pytest.raises(SerializationError, match="does not match"):
            ser(bad, ctx)
    with pytest.raises(SerializationError, match="not JSON"):
        JSONDeserializer(schema)(b"\x00\x00\x00\x00\x01{nope", ctx)


def test_protobuf_and_json_through_the_broker(platform, pb2, client):
    broker, _ = platform
    topic = unique_topic("pb-e2e")
    producer = SerializingProducer({"bootstrap.servers": broker.bootstrap,
                                    "value.serializer": ProtobufSerializer(pb2.Order, client)})
    for i in range(50):
        order = _order(pb2)
        order.id = i
        producer.produce(topic, key=b"k%d" % i, value=order)
    assert producer.flush(15) == 0
    consumer = DeserializingConsumer({"bootstrap.servers": broker.bootstrap, "group.id": unique_topic("g"),
                                      "auto.offset.reset": "earliest",
                                      "value.deserializer": ProtobufDeserializer(schema_registry_client=client)})
    consumer.subscribe([topic])
    ids = []
    for _ in range(200):
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            ids.append(msg.value().id)
        if len(ids) == 50:
            break
    consumer.close()
    assert ids == list(range(50))
