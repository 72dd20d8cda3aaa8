"""Kafka (Java) client properties translated for librdkafka (cli/client_config.py)."""

from __future__ import annotations

import pytest

from cli.client_config import connection_settings, librdkafka_config, read_properties
from cli.output import CommandError


def test_java_tls_and_sasl_properties_translate():
    conf = librdkafka_config({
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required '
                            'username="alice" password="p\\"w d";',
        "ssl.truststore.type": "PEM", "ssl.truststore.location": "/ca.pem",
        "ssl.keystore.type": "PEM", "ssl.keystore.location": "/client.pem",
        "ssl.endpoint.identification.algorithm": "", "acks": "all"})
    assert conf == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice",
                    "sasl.password": 'p"w d', "ssl.ca.location": "/ca.pem", "ssl.certificate.location": "/client.pem",
                    "ssl.key.location": "/client.pem", "ssl.endpoint.identification.algorithm": "none",
                    "acks": "all"}
    assert "acks" not in connection_settings(conf) and connection_settings(conf)["sasl.username"] == "alice"


def test_librdkafka_names_pass_and_stores_other_than_pem_are_refused():
    assert librdkafka_config({"ssl.ca.location": "/ca.pem"}) == {"ssl.ca.location": "/ca.pem"}
    with pytest.raises(CommandError, match="a JKS store cannot be read"):
        librdkafka_config({"ssl.truststore.location": "/truststore.jks"})  # Kafka's default type is JKS
    with pytest.raises(CommandError, match="only PlainLoginModule, ScramLoginModule and OAuthBearerLoginModule"):
        librdkafka_config({"sasl.jaas.config": "com.example.Custom required;"})


def test_properties_files(tmp_path):
    path = tmp_path / "client.properties"
    path.write_text("# comment\n! also a comment\n\nsecurity.protocol = SSL\nclient.id: tools\n")
    assert read_properties(str(path)) == {"security.protocol": "SSL", "client.id": "tools"}
    path.write_text("no separator here\n")
    with pytest.raises(CommandError, match="expected key=value"):
        read_properties(str(path))


def test_jaas_configs_parse_with_quotes_and_user_entries():
    from kafka_properties import parse_jaas
    jaas = parse_jaas('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
                      'password="a \\"secret\\"" user_admin="a \\"secret\\"" user_bob=bob-pw;')
    assert jaas.is_module("org.apache.kafka.common.security.plain.PlainLoginModule")
    assert jaas.options == {"username": "admin", "password": 'a "secret"', "user_admin": 'a "secret"',
                            "user_bob": "bob-pw"}
    assert "secret" not in repr(jaas)


def test_unsecured_oauthbearer_jaas_becomes_librdkafka_unsecure_jwt():
    conf = librdkafka_config({"sasl.mechanism": "OAUTHBEARER", "sasl.jaas.config":
                              "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
                              'unsecuredLoginStringClaim_sub="alice";'})
    assert conf == {"sasl.mechanism": "OAUTHBEARER", "enable.sasl.oauthbearer.unsecure.jwt": "true",
                    "sasl.oauthbearer.config": "principal=alice"}
