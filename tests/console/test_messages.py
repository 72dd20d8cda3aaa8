"""Browsing a topic's records (decoded through the registry exactly as the serdes' deserializers
decode them), the live tail, and producing through the form (validated against the subject's
latest schema, read back with a DeserializingConsumer). Browsing must leave no consumer group."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import time
from datetime import datetime, timezone

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from google.protobuf import json_format
from selenium.webdriver.common.by import By

from serdes import MessageField, Schema, SchemaRegistryClient, SerializationContext, record_subject_name_strategy
from serdes.avro import AvroDeserializer, AvroSerializer
from serdes.json_schema import JSONDeserializer, JSONSerializer
from serdes.kafka import DeserializingConsumer
from serdes.protobuf import ProtobufDeserializer, ProtobufSerializer
from tests.conftest import unique_topic
from tests.console.conftest import PAGE_WAIT_S, PageWait, console_errors, open_page, screenshot
from tests.console.test_topics import field_error, fill, submit, wait_for_text

AVRO_READING = json.dumps({
    "type": "record", "name": "AvroReading", "namespace": "console.test", "fields": [
        {"name": "sensor", "type": "string"}, {"name": "count", "type": "int"}, {"name": "level", "type": "double"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "site", "type": {"type": "record", "name": "Site", "fields": [{"name": "name", "type": "string"}]}}]})
JSON_ALERT = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#", "title": "Alert", "type": "object",
    "properties": {"code": {"type": "integer"}, "text": {"type": "string"}}, "required": ["code", "text"],
    "additionalProperties": False})
READING_PROTO = textwrap.dedent("""\
    syntax = "proto3";
    package console.test;
    message Reading {
      string sensor = 1;
      int32 count = 2;
      double level = 3;
      repeated string tags = 4;
    }
""")
BROWSER_GROUP = "schemabus-console-browser"


@pytest.fixture(scope="module")
def pb2(tmp_path_factory):
    from grpc_tools import protoc
    import grpc_tools

    out = tmp_path_factory.mktemp("console-pb2")
    (out / "console_reading.proto").write_text(READING_PROTO)
    include = str(importlib.resources.files(grpc_tools) / "_proto")
    assert protoc.main(["protoc", f"-I{out}", f"-I{include}", f"--python_out={out}",
                        str(out / "console_reading.proto")]) == 0
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("console_reading_pb2")
    finally:
        sys.path.remove(str(out))


@pytest.fixture(scope="module")
def client(console_platform):
    return SchemaRegistryClient({"url": console_platform.registry.url})


@pytest.fixture(scope="module")
def admin(console_platform):
    return AdminClient({"bootstrap.servers": console_platform.bootstrap})


def make_topic(admin, partitions: int = 1, prefix: str = "console-m") -> str:
    name = unique_topic(prefix)
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(15)
    return name


def produce_raw(bootstrap: str, topic: str, records: list[dict]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for record in records:
        producer.produce(topic, **record)
    assert producer.flush(15) == 0


def row(driver, partition: int, offset: int):
    return driver.find_element(By.CSS_SELECTOR, f"tr.record[data-partition='{partition}'][data-offset='{offset}']")


def shown_json(record_row, what: str = "value"):
    return json.loads(record_row.find_element(By.CSS_SELECTOR, f"pre.{what}-data").text)


def group_ids(admin) -> set[str]:
    return {g.group_id for g in admin.list_consumer_groups().result(15).valid}


def test_browse_decodes_like_the_serdes(console_platform, browser, admin, client, pb2):
    topic = make_topic(admin)
    by_record_name = {"subject.name.strategy": record_subject_name_strategy}
    value_ctx = SerializationContext(topic, MessageField.VALUE)
    key_ctx = SerializationContext(topic, MessageField.KEY)
    reading = {"sensor": "s-1", "count": 7, "level": 0.25, "tags": ["a", "b"], "site": {"name": "Porto"}}
    avro_value = AvroSerializer(client, AVRO_READING, conf=by_record_name)(reading, value_ctx)
    avro_key = AvroSerializer(client, '"string"')("sensor-1", key_ctx)  # <topic>-key
    pb_value = ProtobufSerializer(pb2.Reading, client, by_record_name)(
        pb2.Reading(sensor="s-2", count=-3, level=1.5, tags=["x"]), value_ctx)
    json_value = JSONSerializer(JSON_ALERT, client, conf=by_record_name)({"code": 3, "text": "hot"}, value_ctx)
    produce_raw(console_platform.bootstrap, topic, [
        {"key": avro_key, "value": avro_value},
        {"key": b"k-pb", "value": pb_value},
        {"value": json_value},
        {"key": b"plain", "value": "hello w\u00f6rld".encode(), "headers": [("trace", b"abc"), ("bin", b"\xff\x01")]},
        {"value": b"\xff\xfe\x00\x01"},
    ])
    groups_before = group_ids(admin)
    page = open_page(browser, f"{console_platform.console.url}/topics/{topic}/messages?partition=0&start=earliest",
                     "#records")
    assert len(page.find_elements(By.CSS_SELECTOR, "tr.record")) == 5

    # Avro key and value, as AvroDeserializer gives them, with the id and subject of each.
    first = row(page, 0, 0)
    decoded = AvroDeserializer(client)(avro_value, value_ctx)
    on_page = shown_json(first)
    assert on_page.keys() == decoded.keys()
    for field_name, value in decoded.items():
        assert on_page[field_name] == value, field_name
    value_cell = first.find_element(By.CSS_SELECTOR, "td.value")
    assert value_cell.find_element(By.CSS_SELECTOR, ".schema-id").text == str(int.from_bytes(avro_value[1:5], "big"))
    assert "console.test.AvroReading v1" in value_cell.find_element(By.CSS_SELECTOR, ".subjects").text
    assert "AVRO" in value_cell.text
    assert shown_json(first, "key") == AvroDeserializer(client)(avro_key, key_ctx) == "sensor-1"
    assert f"{topic}-key v1" in first.find_element(By.CSS_SELECTOR, "td.key .subjects").text

    # Protobuf, as ProtobufDeserializer (no generated class: the writer schema's dynamic message).
    second = row(page, 0, 1)
    message = ProtobufDeserializer(schema_registry_client=client)(pb_value, value_ctx)
    on_page = shown_json(second)
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        value = list(value) if field.is_repeated else value
        assert on_page[field.name] == value, field.name
    assert on_page == json_format.MessageToDict(message, preserving_proto_field_name=True)
    assert "PROTOBUF" in second.find_element(By.CSS_SELECTOR, "td.value").text
    assert "console.test.Reading v1" in second.find_element(By.CSS_SELECTOR, "td.value .subjects").text
    assert second.find_element(By.CSS_SELECTOR, "pre.key-data").text == "k-pb"

    # JSON Schema, as JSONDeserializer.
    third = row(page, 0, 2)
    document = JSONDeserializer(None, schema_registry_client=client, conf={"validate": True})(json_value, value_ctx)
    assert shown_json(third) == document == {"code": 3, "text": "hot"}
    assert "Alert v1" in third.find_element(By.CSS_SELECTOR, "td.value .subjects").text
    assert "null" in third.find_element(By.CSS_SELECTOR, "td.key").text

    # Raw records: UTF-8 as text, anything else as hex; headers likewise.
    fourth = row(page, 0, 3)
    assert fourth.find_element(By.CSS_SELECTOR, "pre.value-data").text == "hello w\u00f6rld"
    headers = fourth.find_element(By.CSS_SELECTOR, "td.headers")
    assert [e.text for e in headers.find_elements(By.TAG_NAME, "dt")] == ["trace", "bin"]
    assert [e.text for e in headers.find_elements(By.CSS_SELECTOR, "pre.header-data")] == ["abc", "ff 01"]
    assert row(page, 0, 4).find_element(By.CSS_SELECTOR, "pre.value-data").text == "ff fe 00 01"
    screenshot(browser, "messages")
    # Browsing joined no group and committed nothing.
    assert BROWSER_GROUP not in group_ids(admin) and group_ids(admin) - groups_before <= set()


def test_browse_by_offset_and_timestamp(console_platform, browser, admin):
    topic = make_topic(admin, partitions=2)
    t0 = int(time.time() * 1000) - 60_000
    produce_raw(console_platform.bootstrap, topic, [
        {"value": f"r{i}".encode(), "partition": 1, "timestamp": t0 + i * 1000} for i in range(4)])
    base = f"{console_platform.console.url}/topics/{topic}/messages"
    page = open_page(browser, f"{base}?partition=1&start=offset&offset=2&limit=1", "#records")
    assert [r.get_attribute("data-offset") for r in page.find_elements(By.CSS_SELECTOR, "tr.record")] == ["2"]
    when = datetime.fromtimestamp((t0 + 1500) / 1000, timezone.utc).isoformat()
    open_page(browser, f"{base}?partition=1&start=earliest", "#records")
    browser.find_element(By.CSS_SELECTOR, "#start option[value='timestamp']").click()
    fill(browser, "timestamp", when)
    submit(browser, "Show records")
    PageWait(browser, PAGE_WAIT_S).until(lambda d: "timestamp=" in d.current_url, "the form was not sent")
    offsets = [r.get_attribute("data-offset") for r in browser.find_elements(By.CSS_SELECTOR, "tr.record")]
    assert offsets == ["2", "3"]
    page = open_page(browser, f"{base}?start=latest&limit=1", "#records")  # all partitions: the newest
    assert [(r.get_attribute("data-partition"), r.get_attribute("data-offset"))
            for r in page.find_elements(By.CSS_SELECTOR, "tr.record")] == [("1", "3")]


@pytest.mark.parametrize("query, field, message", [
    ("limit=0", "limit", "at least 1"),
    ("limit=5000", "limit", "At most 500"),
    ("start=offset", "offset", "Give the offset"),
    ("start=timestamp&timestamp=yesterday", "timestamp", "ISO-8601"),
    ("partition=9", "partition", "no partition 9"),
])
def test_browse_form_errors_are_shown_by_their_field(console_platform, browser, admin, query, field, message):
    topic = make_topic(admin)
    open_page(browser, f"{console_platform.console.url}/topics/{topic}/messages?{query}", "form")
    assert message in field_error(browser, field)


def test_live_tail_shows_records_written_after_the_page_opened(console_platform, browser, admin):
    topic = make_topic(admin, partitions=2)
    produce_raw(console_platform.bootstrap, topic, [{"value": b"before"}])
    open_page(browser, f"{console_platform.console.url}/topics/{topic}/messages?tail=1", "#tail-poller")
    assert not browser.find_elements(By.CSS_SELECTOR, "#tail-rows tr.record")  # only what comes next
    marker = f"tailed-{time.monotonic_ns()}"
    produce_raw(console_platform.bootstrap, topic, [{"key": b"k", "value": marker.encode(), "partition": 1}])
    PageWait(browser, PAGE_WAIT_S).until(
        lambda d: any(marker in r.text for r in d.find_elements(By.CSS_SELECTOR, "#tail-rows tr.record")),
        "the record produced after the page opened did not appear in the live tail")
    second = f"tailed-again-{time.monotonic_ns()}"
    produce_raw(console_platform.bootstrap, topic, [{"value": second.encode(), "partition": 0}])
    PageWait(browser, PAGE_WAIT_S).until(
        lambda d: any(second in r.text for r in d.find_elements(By.CSS_SELECTOR, "#tail-rows tr.record")),
        "a second record did not appear in the live tail")
    texts = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#tail-rows tr.record")]
    assert len(texts) == 2 and "before" not in " ".join(texts)
    assert not console_errors(browser)
    assert BROWSER_GROUP not in group_ids(admin)


def read_back(bootstrap: str, topic: str, partition: int, offset: int, value_deserializer=None):
    consumer = DeserializingConsumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("console-check"),
                                      "enable.auto.commit": False, "value.deserializer": value_deserializer})
    consumer.assign([TopicPartition(topic, partition, offset)])
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                return message
        raise AssertionError(f"no record at {topic}/{partition}@{offset}")
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, partitions: int = 1) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "console-test-offsets"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1] for p in range(partitions)]
    finally:
        consumer.close()


def produced_at(driver) -> tuple[int, int]:
    wait_for_text(driver, ".flash", "Produced to partition")
    words = driver.find_element(By.CSS_SELECTOR, ".flash").text.rstrip(".").split()
    return int(words[3].rstrip(",")), int(words[-1])


SCHEMAS = {
    "AVRO": (Schema(AVRO_READING, "AVRO"),
             {"sensor": "form", "count": 2, "level": 3.5, "tags": ["t"], "site": {"name": "Lyon"}},
             {"sensor": "form", "count": "two"}),
    "JSON": (Schema(JSON_ALERT, "JSON"), {"code": 9, "text": "from the form"}, {"code": 9, "extra": True}),
    "PROTOBUF": (Schema(READING_PROTO, "PROTOBUF"), {"sensor": "form", "count": 4, "level": 0.5, "tags": ["p"]},
                 {"sensor": "form", "no_such_field": 1}),
}


@pytest.mark.parametrize("schema_type", list(SCHEMAS))
def test_produce_through_the_form_with_the_subjects_schema(console_platform, browser, admin, client, schema_type):
    schema, good, bad = SCHEMAS[schema_type]
    topic = make_topic(admin, prefix=f"console-produce-{schema_type.lower()}")
    schema_id = client.register_schema(f"{topic}-value", schema)
    url = f"{console_platform.console.url}/topics/{topic}/produce"
    open_page(browser, url, "form")
    assert f"{topic}-value" in browser.find_element(By.ID, "schema-note").text
    # A value that does not fit the schema, then one that is not JSON: shown, nothing written.
    for text, expected in ((json.dumps(bad), "does not match"), ("{oops", "not JSON")):
        fill(browser, "value", text)
        submit(browser, "Produce")
        assert expected in field_error(browser, "value")
        assert end_offsets(console_platform.bootstrap, topic) == [0]
    fill(browser, "key", "k-form")
    fill(browser, "value", json.dumps(good))
    fill(browser, "header_name_0", "origin")
    fill(browser, "header_value_0", "console")
    submit(browser, "Produce")
    partition, offset = produced_at(browser)
    deserializer = {"AVRO": lambda: AvroDeserializer(client),
                    "JSON": lambda: JSONDeserializer(None, schema_registry_client=client, conf={"validate": True}),
                    "PROTOBUF": lambda: ProtobufDeserializer(schema_registry_client=client)}[schema_type]()
    message = read_back(console_platform.bootstrap, topic, partition, offset, deserializer)
    written = read_back(console_platform.bootstrap, topic, partition, offset).value()
    assert written[0] == 0 and int.from_bytes(written[1:5], "big") == schema_id  # Confluent's wire format
    value = message.value()
    if schema_type == "PROTOBUF":
        value = json_format.MessageToDict(value, preserving_proto_field_name=True)
    assert value == good
    assert message.key() == b"k-form" and message.headers() == [("origin", b"console")]


def test_produce_raw_records_and_refuse_an_unknown_partition(console_platform, browser, admin):
    topic = make_topic(admin, partitions=2)
    url = f"{console_platform.console.url}/topics/{topic}/produce"
    open_page(browser, url, "form")
    assert "has no schema" in browser.find_element(By.ID, "schema-note").text
    fill(browser, "partition", "7")
    fill(browser, "value", "raw text")
    submit(browser, "Produce")
    assert "no partition 7" in field_error(browser, "partition")
    assert end_offsets(console_platform.bootstrap, topic, 2) == [0, 0]
    fill(browser, "partition", "1")
    fill(browser, "header_value_0", "orphan value")
    submit(browser, "Produce")
    assert "header's name" in field_error(browser, "header_name_0")
    assert end_offsets(console_platform.bootstrap, topic, 2) == [0, 0]
    fill(browser, "header_name_0", "h")
    submit(browser, "Produce")
    assert produced_at(browser) == (1, 0)
    message = read_back(console_platform.bootstrap, topic, 1, 0)
    assert message.value() == b"raw text" and message.key() is None and message.headers() == [("h", b"orphan value")]
