"""confluent-kafka's SchemaRegistryClient (the real client) against our registry on our broker.

Every call of the client is driven here, except the association calls (a Confluent 8.1 feature
this registry does not implement; they get a clean 404, checked below).
"""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import (Metadata, MetadataProperties, MetadataTags, Rule, RuleSet, Schema,
                                             SchemaReference, SchemaRegistryClient)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.conftest import unique_topic

USER_V1 = {"type": "record", "name": "User", "namespace": "demo",
           "fields": [{"name": "name", "type": "string", "doc": "full name"}]}
USER_V2 = {**USER_V1, "fields": USER_V1["fields"] + [{"name": "age", "type": "int", "default": 0}]}
USER_BAD = {**USER_V1, "fields": USER_V1["fields"] + [{"name": "email", "type": "string"}]}


def avro(schema, **kwargs) -> Schema:
    return Schema(json.dumps(schema), "AVRO", **kwargs)


@pytest.fixture
def client(module_registry):
    c = SchemaRegistryClient({"url": module_registry.url})
    yield c
    c.close() if hasattr(c, "close") else None


@pytest.fixture
def subject():
    return unique_topic("subj") + "-value"


def expect_error(status: int, code: int, call, *args, **kwargs):
    with pytest.raises(SchemaRegistryError) as info:
        call(*args, **kwargs)
    assert (info.value.http_status_code, info.value.error_code) == (status, code), str(info.value)
    return info.value


def test_register_lookup_and_read_back(client, subject):
    schema_id = client.register_schema(subject, avro(USER_V1))
    assert schema_id > 0
    again = SchemaRegistryClient({"url": client._rest_client.base_urls[0]})  # no cache
    assert again.register_schema(subject, avro(USER_V1)) == schema_id

    full = again.register_schema_full_response(subject, avro(USER_V2))
    assert full.schema_id == schema_id + 1 and full.version == 2 and full.guid

    fetched = again.get_schema(schema_id)
    assert json.loads(fetched.schema_str) == USER_V1
    assert fetched.schema_str == ('{"type":"record","name":"User","namespace":"demo","fields":[{"name":"name",'
                                  '"type":"string","doc":"full name"}]}')
    assert again.get_schema_by_guid(full.guid).schema_str == json.dumps(USER_V2, separators=(",", ":"))

    found = again.lookup_schema(subject, avro(USER_V1))
    assert (found.schema_id, found.version, found.subject) == (schema_id, 1, subject)
    expect_error(404, 40403, again.lookup_schema, subject, avro({"type": "string"}))
    expect_error(404, 40401, again.lookup_schema, subject + "-missing", avro(USER_V1))

    latest = again.get_latest_version(subject)
    assert (latest.version, latest.schema_id) == (2, schema_id + 1)
    v1 = again.get_version(subject, 1)
    assert v1.schema_id == schema_id and json.loads(v1.schema.schema_str) == USER_V1
    assert again.get_versions(subject) == [1, 2]
    assert subject in again.get_subjects()
    assert again.get_subjects_by_schema_id(schema_id) == [subject]
    versions = again.get_schema_versions(schema_id)
    assert [(v.subject, v.version) for v in versions] == [(subject, 1)]
    assert "AVRO" in again.get_schema_types()
    expect_error(404, 40403, again.get_schema, 987654)
    expect_error(404, 40402, again.get_version, subject, 99)


def test_same_schema_in_two_subjects_shares_the_id(client, subject):
    first = client.register_schema(subject, avro(USER_V1))
    other = subject.replace("-value", "-key")
    assert client.register_schema(other, avro(USER_V1)) == first
    assert {subject, other} <= set(client.get_subjects_by_schema_id(first))
    assert client.get_version(other, 1).schema_id == first


def test_compatibility_calls(client, subject):
    client.register_schema(subject, avro(USER_V1))
    assert client.test_compatibility(subject, avro(USER_V2)) is True
    assert client.test_compatibility(subject, avro(USER_BAD)) is False
    assert client.test_compatibility(subject, avro(USER_BAD), version=1) is False
    assert client.test_compatibility_all_versions(subject, avro(USER_V2)) is True
    assert client.test_compatibility_all_versions(subject, avro(USER_BAD)) is False
    error = expect_error(409, 409, client.register_schema, subject, avro(USER_BAD))
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in error.error_message and "/fields/1" in error.error_message

    assert client.set_compatibility(subject, "NONE")["compatibility"] == "NONE"
    assert client.get_compatibility(subject) == "NONE"
    assert client.register_schema(subject, avro(USER_BAD)) > 0


def test_config_calls(client, subject):
    from confluent_kafka.schema_registry import ServerConfig
    from confluent_kafka.schema_registry.schema_registry_client import ConfigCompatibilityLevel

    client.register_schema(subject, avro(USER_V1))
    expect_error(404, 40408, client.get_config, subject)
    defaults = Metadata(None, MetadataProperties({"owner": "platform"}), None)
    updated = client.set_config(subject, ServerConfig(compatibility=ConfigCompatibilityLevel.FULL_TRANSITIVE,
                                                      compatibility_group="application.major.version",
                                                      default_metadata=defaults))
    assert updated["compatibility"] == "FULL_TRANSITIVE"  # the client returns the raw answer here
    config = client.get_config(subject)
    assert config.compatibility_level == ConfigCompatibilityLevel.FULL_TRANSITIVE
    assert config.compatibility_group == "application.major.version"
    assert config.default_metadata.properties.properties == {"owner": "platform"}
    deleted = client.delete_config(subject)
    assert deleted.compatibility_level == ConfigCompatibilityLevel.FULL_TRANSITIVE
    expect_error(404, 40408, client.get_config, subject)
    assert client.get_config().compatibility_level is not None
    assert client.get_compatibility() in ("BACKWARD", "NONE", "FULL", "FORWARD", "BACKWARD_TRANSITIVE",
                                          "FORWARD_TRANSITIVE", "FULL_TRANSITIVE")


def uncached(client) -> SchemaRegistryClient:
    """The client caches versions and ids; reads after a delete need a fresh one."""
    return SchemaRegistryClient({"url": client._rest_client.base_urls[0]})


def test_soft_and_hard_delete(client, subject):
    first = client.register_schema(subject, avro(USER_V1))
    client.register_schema(subject, avro(USER_V2))
    assert client.delete_version(subject, 1) == 1
    assert client.get_versions(subject) == [2]
    assert client.get_versions(subject, deleted=True) == [1, 2]
    assert uncached(client).get_version(subject, 1, deleted=True).schema_id == first
    expect_error(404, 40402, uncached(client).get_version, subject, 1)
    assert json.loads(uncached(client).get_schema(first).schema_str) == USER_V1  # soft-deleted ids stay readable
    expect_error(404, 40407, client.delete_version, subject, 2, permanent=True)
    expect_error(404, 40406, client.delete_version, subject, 1)
    assert client.delete_version(subject, 1, permanent=True) == 1
    expect_error(404, 40402, uncached(client).get_version, subject, 1, deleted=True)

    expect_error(404, 40405, client.delete_subject, subject, permanent=True)
    assert client.delete_subject(subject) == [2]
    assert subject not in client.get_subjects()
    assert subject in client.get_subjects(deleted=True)
    expect_error(404, 40404, client.delete_subject, subject)
    assert client.delete_subject(subject, permanent=True) == [2]
    expect_error(404, 40401, client.get_versions, subject)
    expect_error(404, 40401, client.delete_subject, subject)


def test_references_and_referenced_by(client, subject):
    address = {"type": "record", "name": "Address", "namespace": "demo",
               "fields": [{"name": "street", "type": "string"}]}
    address_subject = subject + "-address"
    address_id = client.register_schema(address_subject, avro(address))
    person = {"type": "record", "name": "Person", "namespace": "demo",
              "fields": [{"name": "home", "type": "Address"}, {"name": "work", "type": ["null", "Address"],
                                                               "default": None}]}
    refs = [SchemaReference("demo.Address", address_subject, 1)]
    person_id = client.register_schema(subject, avro(person, references=refs))
    stored = client.get_version(subject, 1)
    assert [(r.name, r.subject, r.version) for r in stored.schema.references] == [("demo.Address", address_subject, 1)]
    assert client.get_referenced_by(address_subject, 1) == [person_id]
    assert client.lookup_schema(subject, avro(person, references=refs)).schema_id == person_id
    expect_error(422, 42206, client.delete_version, address_subject, 1)
    expect_error(422, 42206, client.delete_subject, address_subject)
    missing = [SchemaReference("demo.Address", address_subject, 7)]
    expect_error(422, 42201, client.register_schema, subject + "-x", avro(person, references=missing))
    assert address_id != person_id


def test_metadata_and_rule_set_are_stored(client, subject):
    metadata = Metadata(MetadataTags({"name": ["PII"]}), MetadataProperties({"owner": "team-a", "tier": "gold"}),
                        ["name"])
    rule_set = RuleSet(domain_rules=[Rule("checkName", None, None, None, "CEL", None, None, "message.name != ''",
                                          None, None, False)], migration_rules=[])
    registered = client.register_schema_full_response(subject, avro(USER_V1, metadata=metadata, rule_set=rule_set))
    version = client.get_version(subject, 1)
    assert version.schema.metadata.properties.properties == {"owner": "team-a", "tier": "gold"}
    assert version.schema.rule_set.domain_rules[0].name == "checkName"
    latest = client.get_latest_with_metadata(subject, {"owner": "team-a"})
    assert latest.schema_id == registered.schema_id
    expect_error(404, 40403, client.get_latest_with_metadata, subject, {"owner": "team-b"})
    bad_rules = RuleSet(domain_rules=[Rule("1bad", None, None, None, "CEL", None, None, "true", None, None, False)],
                        migration_rules=[])
    expect_error(422, 42210, client.register_schema, subject, avro(USER_V2, rule_set=bad_rules))


def test_modes(registry):
    client = SchemaRegistryClient({"url": registry.url})
    subject = "mode-subject"
    client.register_schema(subject, avro(USER_V1))
    assert client.get_global_mode() == "READWRITE"
    expect_error(404, 40409, client.get_mode, subject)
    assert client.update_mode(subject, "READONLY") == "READONLY"
    assert client.get_mode(subject) == "READONLY"
    expect_error(422, 42205, client.register_schema, subject, avro(USER_V2))
    assert client.delete_mode(subject) == "READONLY"
    assert client.register_schema(subject, avro(USER_V2)) > 0

    expect_error(422, 42205, client.update_mode, subject, "IMPORT")  # not empty
    assert client.update_mode(subject, "IMPORT", force=True) == "IMPORT"
    imported = registry.register(subject, USER_BAD, id=500, version=10)
    assert imported.status_code == 200, imported.text
    assert client.get_version(subject, 10).schema_id == 500
    conflict = registry.register(subject, {"type": "string"}, id=500, version=11)
    assert (conflict.status_code, conflict.json()["error_code"]) == (422, 42205)
    mismatch = registry.register(subject, USER_BAD, id=501, version=12)
    assert (mismatch.status_code, mismatch.json()["error_code"]) == (422, 42207)
    assert client.update_mode(subject, "READWRITE") == "READWRITE"
    no_id = registry.register(subject, USER_BAD, id=502)
    assert no_id.json()["error_code"] == 42205  # explicit ids only in IMPORT

    assert client.update_global_mode("READONLY") == "READONLY"
    expect_error(422, 42205, client.register_schema, "other-subject", avro(USER_V1))
    assert client.update_global_mode("READWRITE") == "READWRITE"
    expect_error(422, 42204, client.update_global_mode, "SIDEWAYS")


def test_contexts_and_caches(client, subject):
    assert client.get_contexts() == ["."]
    client.register_schema(subject, avro(USER_V1))
    client.clear_latest_caches()
    client.clear_caches()
    assert client.get_latest_version(subject).version == 1


def test_association_calls_get_a_clean_404(client):
    expect_error(404, 404, client.get_associations_by_resource_name, "topic", "default")


def test_confluent_serializers_work_against_it(client, subject):
    serializer = AvroSerializer(client, json.dumps(USER_V2))
    deserializer = AvroDeserializer(client)
    topic = subject.rsplit("-", 1)[0]
    ctx = SerializationContext(topic, MessageField.VALUE)
    payload = serializer({"name": "Ada", "age": 36}, ctx)
    assert payload[0] == 0
    schema_id = int.from_bytes(payload[1:5], "big")
    assert client.get_latest_version(f"{topic}-value").schema_id == schema_id
    assert deserializer(payload, ctx) == {"name": "Ada", "age": 36}


def test_subject_names_with_slashes(client, subject):
    subject = "team/" + subject
    schema_id = client.register_schema(subject, avro(USER_V1))
    assert subject in client.get_subjects()
    assert uncached(client).get_version(subject, 1).schema_id == schema_id
    assert uncached(client).lookup_schema(subject, avro(USER_V1)).version == 1
    assert client.delete_version(subject, 1) == 1
