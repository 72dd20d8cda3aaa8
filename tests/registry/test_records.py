"""The `_schemas` records are byte-for-byte Confluent's layout (compaction keys on the key bytes)."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from registry import records
from registry.state import RegistryState


def test_keys_have_confluents_field_order():
    assert records.schema_key("s", 3) == b'{"keytype":"SCHEMA","subject":"s","version":3,"magic":1}'
    assert records.config_key("s") == b'{"keytype":"CONFIG","subject":"s","magic":0}'
    assert records.config_key(None) == b'{"keytype":"CONFIG","magic":0}'
    assert records.mode_key(None) == b'{"keytype":"MODE","magic":0}'
    assert records.delete_subject_key("s") == b'{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}'
    assert records.clear_subject_key("s") == b'{"keytype":"CLEAR_SUBJECT","subject":"s","magic":0}'
    assert records.noop_key() == b'{"keytype":"NOOP","magic":0}'


def test_values_have_confluents_field_order():
    value = records.schema_value("s", 1, 5, "AVRO", [{"name": "A", "subject": "a", "version": 2}],
                                 {"properties": {"k": "v"}}, None, '"string"', False)
    assert value == (b'{"subject":"s","version":1,"id":5,"schemaType":"AVRO","references":[{"name":"A",'
                     b'"subject":"a","version":2}],"metadata":{"properties":{"k":"v"}},"schema":"\\"string\\"",'
                     b'"deleted":false}')
    assert records.config_value(None, {"compatibilityLevel": "FULL", "normalize": True}) == \
        b'{"normalize":true,"compatibilityLevel":"FULL"}'
    assert records.mode_value("s", "IMPORT") == b'{"subject":"s","mode":"IMPORT"}'
    assert records.delete_subject_value("s", 4) == b'{"subject":"s","version":4}'


def test_state_applies_records_and_skips_garbage():
    state = RegistryState()
    state.apply(records.schema_key("s", 1), records.schema_value("s", 1, 3, "AVRO", [], None, None, '"int"', False))
    state.apply(b"\xff\xfe", b"{}")
    state.apply(records.schema_key("s", 2), b'{"id": -1}')
    state.apply(records.schema_key("t", 1), records.schema_value("t", 1, 3, "AVRO", [], None, None, '"int"', False))
    # A different schema claiming an existing id is ignored, as Confluent does.
    state.apply(records.schema_key("u", 1), records.schema_value("u", 1, 3, "AVRO", [], None, None, '"long"', False))
    assert state.skipped == 2
    assert sorted(state.subjects) == ["s", "t"] and state.max_id == 3
    assert state.contents[3].schema == '"int"'
    state.apply(records.delete_subject_key("s"), records.delete_subject_value("s", 1))
    assert state.subjects["s"][1].deleted
    state.apply(records.schema_key("s", 1), None)
    assert "s" not in state.subjects and state.subject_versions_of(3) == [("t", 1)]


def test_topic_holds_confluents_records(registry, registry_broker):
    ok = registry.register("layout", {"type": "string"})
    assert ok.status_code == 200
    assert registry.call("PUT", "/config/layout", {"compatibility": "FULL"}).status_code == 200
    assert registry.call("DELETE", "/subjects/layout/versions/1").status_code == 200
    consumer = Consumer({"bootstrap.servers": registry_broker.bootstrap, "group.id": "layout-check",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(registry.topic, 0, 0)])
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len([k for k, _ in seen if b"NOOP" not in k]) < 3:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            seen.append((msg.key(), msg.value()))
    consumer.close()
    payload = [(k, v) for k, v in seen if b"NOOP" not in k]
    assert payload == [
        (b'{"keytype":"SCHEMA","subject":"layout","version":1,"magic":1}',
         b'{"subject":"layout","version":1,"id":1,"schemaType":"AVRO","schema":"\\"string\\"","deleted":false}'),
        (b'{"keytype":"CONFIG","subject":"layout","magic":0}',
         b'{"subject":"layout","compatibilityLevel":"FULL"}'),
        (b'{"keytype":"SCHEMA","subject":"layout","version":1,"magic":1}',
         b'{"subject":"layout","version":1,"id":1,"schemaType":"AVRO","schema":"\\"string\\"","deleted":true}'),
    ]
    assert all(v is None for k, v in seen if b"NOOP" in k)

    admin = AdminClient({"bootstrap.servers": registry_broker.bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, registry.topic)
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["cleanup.policy"].value == "compact"
    topic = admin.list_topics(registry.topic, timeout=10).topics[registry.topic]
    assert len(topic.partitions) == 1
