"""The console tools and `schemabus schemas` against our registry over HTTPS with basic
authentication, given Confluent's serializer properties (--property, --producer.config,
--consumer.config, --registry-config)."""

from __future__ import annotations

import json

import pytest

from registry.auth import user_entry
from tests.cli.test_console import tool
from tests.cli.test_schemabus_command import schemabus
from tests.conftest import BrokerProcess, unique_topic
from tests.registry.conftest import FAST_GROUPS
from tests.registry.test_security import SecureRegistry
from tests.tls import CertificateAuthority

PASSWORD = "tools-pw-c81f0"
SCHEMA = '{"type":"record","name":"Point","fields":[{"name":"x","type":"int"}]}'


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    base = tmp_path_factory.mktemp("secure-tools")
    ca = CertificateAuthority(base / "ca")
    users = base / "users.properties"
    users.write_text(user_entry("app", PASSWORD, ["developer"]) + "\n")
    broker = BrokerProcess(base / "broker", FAST_GROUPS).start()
    registry = SecureRegistry(broker.bootstrap, base, ca, {
        "authentication.method": "BASIC", "schemabus.authentication.users.file": str(users)}).start()
    yield broker, registry, ca, base
    registry.stop()
    broker.stop()


def registry_properties(registry, ca, password: str = PASSWORD) -> dict[str, str]:
    return {"schema.registry.url": registry.https_url, "basic.auth.credentials.source": "USER_INFO",
            "schema.registry.basic.auth.user.info": f"app:{password}",
            "schema.registry.ssl.truststore.location": str(ca.ca_file), "schema.registry.ssl.truststore.type": "PEM"}


def test_avro_console_tools_with_a_secured_registry(secured):
    broker, registry, ca, base = secured
    topic = unique_topic("secure-points")
    props = [arg for key, value in registry_properties(registry, ca).items() for arg in ("--property", f"{key}={value}")]
    produced = tool("avro_producer", "--bootstrap-server", broker.bootstrap, "--topic", topic, *props,
                    "--property", f"value.schema={SCHEMA}", stdin='{"x": 1}\n{"x": 2}\n')
    assert produced.returncode == 0, produced.stderr
    # The consumer takes the same settings from its --consumer.config file.
    config = base / "consumer.properties"
    config.write_text("\n".join(f"{k}={v}" for k, v in registry_properties(registry, ca).items()) + "\n")
    consumed = tool("avro_consumer", "--bootstrap-server", broker.bootstrap, "--topic", topic, "--from-beginning",
                    "--consumer.config", str(config), "--property", f"schema.registry.url={registry.https_url}",
                    "--max-messages", "2")
    assert consumed.returncode == 0, consumed.stderr
    assert [json.loads(line) for line in consumed.stdout.splitlines()] == [{"x": 1}, {"x": 2}]


def test_console_producer_with_a_wrong_password(secured):
    broker, registry, ca, _ = secured
    props = [arg for key, value in registry_properties(registry, ca, "not-it-3e9").items()
             for arg in ("--property", f"{key}={value}")]
    produced = tool("avro_producer", "--bootstrap-server", broker.bootstrap, "--topic", unique_topic("denied"),
                    *props, "--property", f"value.schema={SCHEMA}", stdin='{"x": 1}\n')
    assert produced.returncode != 0
    assert "401" in produced.stderr
    assert "not-it-3e9" not in produced.stderr + produced.stdout


def test_schemabus_schemas_with_registry_config(secured):
    _, registry, ca, base = secured
    config = base / "registry-client.properties"
    config.write_text("\n".join(f"{k}={v}" for k, v in registry_properties(registry, ca).items()
                                if k != "schema.registry.url") + "\n")
    subject = unique_topic("cli-secure")
    schema_file = base / "point.avsc"
    schema_file.write_text(SCHEMA)
    common = ["--registry-url", registry.https_url, "--registry-config", str(config)]
    registered = schemabus("schemas", "register", subject, "--file", str(schema_file), *common)
    assert registered.returncode == 0, registered.stderr
    listed = schemabus("schemas", "list", "--prefix", subject, "--output", "json", *common)
    assert listed.returncode == 0, listed.stderr
    assert subject in listed.stdout
    # Credentials in the url work too, and never show in what is printed.
    url = registry.https_url.replace("https://", "https://app:wrong-one-77@")
    ca_only = base / "ca-only.properties"
    ca_only.write_text(f"schema.registry.ssl.truststore.location={ca.ca_file}\n"
                       "schema.registry.ssl.truststore.type=PEM\n")
    denied = schemabus("schemas", "list", "--registry-url", url, "--registry-config", str(ca_only))
    assert denied.returncode != 0
    assert "401" in denied.stderr
    assert "wrong-one-77" not in denied.stderr + denied.stdout
