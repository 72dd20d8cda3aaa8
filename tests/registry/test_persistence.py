"""Restart the registry, and the broker (cleanly and with kill -9): everything is as before."""

from __future__ import annotations

import json

from tests.registry.conftest import FAST_GROUPS, record_schema


def snapshot(reg) -> dict:
    """Everything the REST API says about the registry's contents."""
    state: dict = {"subjects": reg.call("GET", "/subjects", deleted="true").json(),
                   "live_subjects": reg.call("GET", "/subjects").json(),
                   "config": reg.call("GET", "/config").json(),
                   "mode": reg.call("GET", "/mode").json(),
                   "schemas": reg.call("GET", "/schemas", deleted="true").json()}
    ids = set()
    for subject in state["subjects"]:
        versions = reg.call("GET", f"/subjects/{subject}/versions", deleted="true").json()
        state[f"versions:{subject}"] = versions
        state[f"live:{subject}"] = reg.call("GET", f"/subjects/{subject}/versions").json()
        for version in versions:
            entry = reg.call("GET", f"/subjects/{subject}/versions/{version}", deleted="true").json()
            state[f"{subject}/{version}"] = entry
            ids.add(entry["id"])
        state[f"config:{subject}"] = reg.call("GET", f"/config/{subject}").json()
        state[f"mode:{subject}"] = reg.call("GET", f"/mode/{subject}").json()
    for schema_id in sorted(ids):
        state[f"id:{schema_id}"] = reg.call("GET", f"/schemas/ids/{schema_id}").json()
    return state


def populate(reg) -> None:
    def ok(response):
        assert response.status_code == 200, response.text
        return response.json()

    base = record_schema("Order", {"name": "id", "type": "long"})
    v2 = record_schema("Order", {"name": "id", "type": "long"}, {"name": "note", "type": "string", "default": ""})
    ok(reg.register("orders-value", base))
    ok(reg.register("orders-value", v2))
    ok(reg.register("orders-copy", base))                       # shares the id
    ok(reg.register("to-soft-delete", {"type": "string"}))
    ok(reg.register("to-soft-delete", {"type": "string", "logicalType": "uuid"}))
    ok(reg.call("DELETE", "/subjects/to-soft-delete/versions/1"))
    ok(reg.register("gone", {"type": "int"}))
    ok(reg.call("DELETE", "/subjects/gone"))
    ok(reg.register("hard", {"type": "long"}))
    ok(reg.call("DELETE", "/subjects/hard"))
    ok(reg.call("DELETE", "/subjects/hard", permanent="true"))
    address = record_schema("Address", {"name": "street", "type": "string"})
    ok(reg.register("address", address))
    ok(reg.register("person", record_schema("Person", {"name": "home", "type": "Address"}),
                    references=[{"name": "Address", "subject": "address", "version": 1}]))
    ok(reg.call("PUT", "/config", {"compatibility": "FULL"}))
    ok(reg.call("PUT", "/config/orders-value", {"compatibility": "NONE", "normalize": True}))
    ok(reg.call("PUT", "/mode/orders-copy", {"mode": "READONLY"}))
    ok(reg.call("PUT", "/mode/imported", {"mode": "IMPORT"}))
    ok(reg.register("imported", {"type": "bytes"}, id=9000, version=5))


def test_restart_registry_then_broker(broker_factory, registry_factory):
    broker = broker_factory(FAST_GROUPS)
    reg = registry_factory(bootstrap=broker.bootstrap)
    populate(reg)
    before = snapshot(reg)
    assert before["versions:to-soft-delete"] == [1, 2] and before["live:to-soft-delete"] == [2]
    assert "gone" in before["subjects"] and "gone" not in before["live_subjects"] and "hard" not in before["subjects"]
    assert before["orders-value/1"]["id"] == before["orders-copy/1"]["id"]
    assert before["imported/5"]["id"] == 9000

    reg.restart()
    assert snapshot(reg) == before

    reg.stop()
    broker.restart()
    reg.start()
    assert snapshot(reg) == before

    reg.stop()
    broker.kill()  # kill -9: nothing acknowledged may be lost
    broker.start()
    reg.start()
    after = snapshot(reg)
    assert after == before

    # Ids and versions continue where they were: highest id seen (9000) + 1.
    answer = reg.register("orders-value", record_schema("Order", {"name": "id", "type": "string"}))
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == 9001 and answer.json()["version"] == 3
    readonly = reg.register("orders-copy", {"type": "string"})
    assert readonly.json()["error_code"] == 42205


def test_replay_reads_confluent_records_and_skips_garbage(registry_broker, registry_factory):
    """A topic written by Confluent's registry (its exact record layout) replays; junk is skipped."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from tests.conftest import unique_topic

    topic = unique_topic("confluent-schemas")
    admin = AdminClient({"bootstrap.servers": registry_broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "compact"})])[topic].result()
    schema = '{"type":"record","name":"T","fields":[{"name":"f","type":"string"}]}'
    records = [
        (b'{"keytype":"NOOP","magic":0}', None),
        (b'{"keytype":"SCHEMA","subject":"t-value","version":1,"magic":1}',
         json.dumps({"subject": "t-value", "version": 1, "id": 7, "schema": schema, "deleted": False}).encode()),
        (b"this is not json", b"{}"),
        (b'{"keytype":"SCHEMA","subject":"broken","version":1,"magic":1}', b'{"id":"seven"}'),
        (b'{"keytype":"CONFIG","subject":"t-value","magic":0}', b'{"subject":"t-value","compatibilityLevel":"FULL"}'),
        (b'{"keytype":"CONFIG","magic":0}', b'{"compatibilityLevel":"NONE"}'),
        (b'{"keytype":"MODE","subject":"t-value","magic":0}', b'{"subject":"t-value","mode":"READONLY"}'),
        (b'{"keytype":"SCHEMA","subject":"t-key","version":1,"magic":1}',
         json.dumps({"subject": "t-key", "version": 1, "id": 8, "schemaType": "AVRO", "schema": '"string"',
                     "deleted": False}).encode()),
        (b'{"keytype":"DELETE_SUBJECT","subject":"t-key","magic":0}', b'{"subject":"t-key","version":1}'),
        (b'{"keytype":"CONTEXT","tenant":"default","context":".x","magic":0}', b'{}'),
    ]
    producer = Producer({"bootstrap.servers": registry_broker.bootstrap})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0

    reg = registry_factory(topic=topic)
    assert reg.call("GET", "/schemas/ids/7").json()["schema"] == schema
    assert reg.call("GET", "/subjects").json() == ["t-value"]
    assert reg.call("GET", "/subjects", deleted="true").json() == ["t-key", "t-value"]
    assert reg.call("GET", "/config/t-value").json() == {"compatibilityLevel": "FULL"}
    assert reg.call("GET", "/config").json() == {"compatibilityLevel": "NONE"}
    assert reg.call("GET", "/mode/t-value").json() == {"mode": "READONLY"}
    assert "skipping unreadable _schemas record" in reg.log_text()
    # The next id follows the highest one seen.
    answer = reg.register("next", {"type": "int"})
    assert answer.json()["id"] == 9
