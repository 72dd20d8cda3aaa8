"""The serdes' registry client against our registry over HTTPS with basic authentication and
client certificates, next to confluent-kafka's SchemaRegistryClient with the same settings."""

from __future__ import annotations

import pytest
from confluent_kafka.schema_registry import Schema as ConfluentSchema
from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentClient
from confluent_kafka.schema_registry.avro import AvroDeserializer as ConfluentAvroDeserializer
from confluent_kafka.serialization import MessageField as ConfluentField
from confluent_kafka.serialization import SerializationContext as ConfluentContext

from registry.auth import user_entry
from serdes import MessageField, Schema, SchemaRegistryClient, SchemaRegistryError, SerializationContext, \
    SerializationError
from serdes.avro import AvroSerializer
from tests.conftest import BrokerProcess
from tests.registry.conftest import FAST_GROUPS
from tests.registry.test_security import SecureRegistry
from tests.tls import CertificateAuthority

PASSWORD = "serdes-pw-40e7b"
USER_SCHEMA = '{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}'


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """Our broker, and our registry on it: https only, client certificates required, basic auth."""
    base = tmp_path_factory.mktemp("secure-serdes")
    ca = CertificateAuthority(base / "ca")
    users = base / "users.properties"
    users.write_text(user_entry("app", PASSWORD, ["developer"]) + "\n")
    broker = BrokerProcess(base / "broker", FAST_GROUPS).start()
    registry = SecureRegistry(broker.bootstrap, base, ca, {
        "ssl.truststore.location": str(ca.ca_file), "ssl.client.authentication": "REQUIRED",
        "authentication.method": "BASIC", "authentication.roles": "developer",
        "schemabus.authentication.users.file": str(users)})
    registry.properties["listeners"] = registry.properties["listeners"].split(",")[0]
    registry.extra_args = [a.replace(f",http://127.0.0.1:{registry.port}", "") for a in registry.extra_args]
    registry.start()
    client_cert = ca.issue("serdes-client")
    yield registry, ca, client_cert
    registry.stop()
    broker.stop()


def tls_conf(secured) -> dict:
    registry, ca, cert = secured
    return {"ssl.ca.location": str(ca.ca_file), "ssl.certificate.location": str(cert.cert),
            "ssl.key.location": str(cert.key)}


@pytest.mark.parametrize("credentials", [
    {"basic.auth.user.info": f"app:{PASSWORD}"},
    {"basic.auth.credentials.source": "USER_INFO", "basic.auth.user.info": f"app:{PASSWORD}"},
    {"basic.auth.credentials.source": "SASL_INHERIT", "sasl.username": "app", "sasl.password": PASSWORD},
    {"basic.auth.credentials.source": "URL"},
    {},  # user:password@ in the url alone, as confluent-kafka's client takes it
])
def test_our_client_with_each_credentials_source(secured, credentials):
    registry = secured[0]
    url = registry.https_url
    if not credentials or credentials.get("basic.auth.credentials.source") == "URL":
        url = url.replace("https://", f"https://app:{PASSWORD}@")
    client = SchemaRegistryClient({"url": url, **tls_conf(secured), **credentials})
    schema_id = client.register_schema("users-value", Schema(USER_SCHEMA, "AVRO"))
    assert client.get_latest_version("users-value").schema_id == schema_id
    assert client.get_schema(schema_id).schema_str == USER_SCHEMA


def test_wrong_credentials_and_bearer_tokens_are_401_without_leaking_them(secured):
    registry = secured[0]
    for credentials in [{"basic.auth.user.info": "app:wrong"},
                        {"bearer.auth.credentials.source": "STATIC_TOKEN", "bearer.auth.token": "tok-5e1d"}]:
        client = SchemaRegistryClient({"url": registry.https_url, **tls_conf(secured), **credentials})
        with pytest.raises(SchemaRegistryError) as caught:
            client.get_subjects()
        assert caught.value.http_status == 401 and caught.value.error_code == 401
        assert "wrong" not in str(caught.value) and "tok-5e1d" not in str(caught.value)
    url = registry.https_url.replace("https://", "https://app:secret-in-url@")
    client = SchemaRegistryClient({"url": url, "basic.auth.credentials.source": "URL", **tls_conf(secured)})
    with pytest.raises(SchemaRegistryError) as caught:
        client.get_subjects()
    assert "secret-in-url" not in str(caught.value)


def test_without_a_client_certificate_the_handshake_fails(secured):
    registry, ca, _ = secured
    client = SchemaRegistryClient({"url": registry.https_url, "ssl.ca.location": str(ca.ca_file),
                                   "basic.auth.user.info": f"app:{PASSWORD}", "max.retries": 0})
    with pytest.raises(SchemaRegistryError) as caught:
        client.get_subjects()
    assert caught.value.http_status == -1


def test_confluent_kafkas_client_with_credentials_in_the_url(secured):
    registry = secured[0]
    url = registry.https_url.replace("https://", f"https://app:{PASSWORD}@")
    client = ConfluentClient({"url": url, **tls_conf(secured)})
    assert "users-value" in client.get_subjects() or client.get_subjects() == []


def test_our_serializer_and_confluent_kafkas_deserializer_over_the_secured_registry(secured):
    registry = secured[0]
    ours = SchemaRegistryClient({"url": registry.https_url, **tls_conf(secured),
                                 "basic.auth.user.info": f"app:{PASSWORD}"})
    theirs = ConfluentClient({"url": registry.https_url, **tls_conf(secured),
                              "basic.auth.user.info": f"app:{PASSWORD}"})
    data = AvroSerializer(ours, USER_SCHEMA)({"name": "Ada"}, SerializationContext("secure-users", MessageField.VALUE))
    read = ConfluentAvroDeserializer(theirs)(data, ConfluentContext("secure-users", ConfluentField.VALUE))
    assert read == {"name": "Ada"}
    # confluent-kafka's client registers, ours reads back.
    schema_id = theirs.register_schema("secure-other", ConfluentSchema('"string"', "AVRO"))
    assert ours.get_schema(schema_id).schema_str == '"string"'


def test_serializer_errors_name_the_refusal(secured):
    registry, ca, _ = secured
    client = SchemaRegistryClient({"url": registry.https_url, **tls_conf(secured),
                                   "basic.auth.user.info": "app:wrong"})
    with pytest.raises(SerializationError, match="401"):
        AvroSerializer(client, USER_SCHEMA)({"name": "Ada"}, SerializationContext("t", MessageField.VALUE))
