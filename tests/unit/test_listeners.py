"""Listener parsing and TLS principals (broker/listeners.py): Kafka's rules, no sockets."""

from __future__ import annotations

import pytest

from broker.config import BrokerConfig, ConfigError
from broker.listeners import PrincipalMapper, configure, distinguished_name, parse_endpoints

KAFKA_DOC_RULES = """RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,
RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,
RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,
DEFAULT"""


@pytest.mark.parametrize("dn,principal", [
    ("CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "User:serviceuser"),
    ("CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "User:adminuser@admin"),
    ("OU=X,CN=Kafka1.Example.com", "User:kafka1.example.com"),
    ("O=Nobody", "User:O=Nobody"),
])
def test_principal_mapping_rules_as_kafka_documents_them(dn, principal):
    assert PrincipalMapper(KAFKA_DOC_RULES).principal(dn) == principal


def test_default_rule_keeps_the_distinguished_name_and_no_match_is_an_error():
    assert PrincipalMapper("DEFAULT").principal("CN=app,O=Org,C=PT") == "User:CN=app,O=Org,C=PT"
    with pytest.raises(ValueError):
        PrincipalMapper("RULE:^CN=(.*)$/$1/U").principal("O=Org")
    assert PrincipalMapper("RULE:^CN=(.*)$/$1/U").principal("CN=app") == "User:APP"
    with pytest.raises(ConfigError):
        PrincipalMapper("RULE:no-slashes")


def test_distinguished_name_is_rfc2253_last_rdn_first():
    cert = {"subject": ((("countryName", "PT"),), (("organizationName", "Acme, Inc."),),
                        (("commonName", "app-1"),))}
    assert distinguished_name(cert) == "CN=app-1,O=Acme\\, Inc.,C=PT"


def test_endpoints_and_listener_errors():
    assert parse_endpoints("PLAINTEXT://:9092,ssl://[::1]:9093", "listeners") == [
        ("PLAINTEXT", "0.0.0.0", 9092), ("SSL", "::1", 9093)]
    assert parse_endpoints("127.0.0.1:9092", "listeners") == [("PLAINTEXT", "127.0.0.1", 9092)]
    with pytest.raises(ConfigError, match="different name"):
        parse_endpoints("A://h:1,A://h:2", "listeners")
    with pytest.raises(ConfigError, match="expected NAME://host:port"):
        parse_endpoints("PLAINTEXT://nohost", "listeners")
    config = BrokerConfig({"listeners": "PLAINTEXT://127.0.0.1:0",
                           "advertised.listeners": "PLAINTEXT://kafka.example:19092"})
    [listener] = configure(config, "ignored:1")
    assert listener.advertised() == ("kafka.example", 19092)
    with pytest.raises(ConfigError, match="not in listeners"):
        configure(BrokerConfig({"advertised.listeners": "OTHER://h:1"}), "127.0.0.1:0")


def test_per_listener_settings_override_the_broker_wide_ones():
    config = BrokerConfig({"ssl.client.auth": "none", "listener.name.internal.ssl.client.auth": "required"})
    assert config.listener_override("INTERNAL", "ssl.client.auth", config["ssl.client.auth"]) == "required"
    assert config.listener_override("EXTERNAL", "ssl.client.auth", config["ssl.client.auth"]) == "none"
    with pytest.raises(ConfigError):
        BrokerConfig({"listener.name.internal.ssl.client.auth": "sometimes"})
