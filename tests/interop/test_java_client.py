"""Kafka's own Java client (kafka-clients 4.x from Maven Central) against our broker and Kafka."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import unique_topic
from tests.interop.apache_kafka import compile_java

SOURCE = Path(__file__).parent / "java" / "JavaClientScenario.java"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def java_scenario(tmp_path_factory) -> str:
    return compile_java(SOURCE, tmp_path_factory.mktemp("java-classes"))


EXPECTED = {
    "retention.ms": "86400000", "partitions": "3", "idempotent_sent": "100", "transactions": "done",
    "group_committed_partitions": "3", "consumed_idempotent": "100", "consumed_committed": "50",
    "consumed_aborted": "0", "group_listed": "true",
}


def run_scenario(java_scenario, bootstrap: str, client_properties: Path | None = None) -> dict:
    classpath = java_scenario
    topic = unique_topic("java")
    extra = [str(client_properties)] if client_properties else []
    proc = subprocess.run(
        ["java", "-cp", classpath, "JavaClientScenario", bootstrap, topic, topic + "-group", *extra],
        capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return dict(line[len("RESULT "):].split("=", 1) for line in proc.stdout.splitlines()
                if line.startswith("RESULT "))


def test_java_client_scenario(java_scenario, any_broker):
    assert run_scenario(java_scenario, any_broker.bootstrap) == EXPECTED


def test_java_client_scenario_over_mutual_tls(java_scenario, tmp_path):
    """The Java client's own TLS stack (PEM truststore and keystore, hostname verification on)
    against a TLS listener that requires client certificates."""
    from tests.integration.test_tls import tls_broker
    from tests.tls import CertificateAuthority

    ca = CertificateAuthority(tmp_path / "ca")
    client = ca.issue("java-app")
    broker = tls_broker(tmp_path, ca, {"ssl.client.auth": "required"}).start()
    properties = tmp_path / "client.properties"
    properties.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={ca.ca_file}\n"
                          f"ssl.keystore.type=PEM\nssl.keystore.location={client.keystore}\n")
    try:
        assert run_scenario(java_scenario, broker.bootstrap, properties) == EXPECTED
    finally:
        broker.stop()


def _sasl_ssl_properties(ca, mechanism: str, jaas: str) -> str:
    return (f"security.protocol=SASL_SSL\nsasl.mechanism={mechanism}\nsasl.jaas.config={jaas}\n"
            f"ssl.truststore.type=PEM\nssl.truststore.location={ca.ca_file}\n")


def test_java_client_scenario_with_scram_user_made_by_kafka_configs(java_scenario, tmp_path):
    """Kafka's own kafka-configs adds the SCRAM user (AlterUserScramCredentials); the Java client
    then runs its whole scenario as that user over SASL_SSL with SCRAM-SHA-256."""
    from tests.integration.test_sasl import ADMIN_PASSWORD, sasl_broker
    from tests.tls import CertificateAuthority

    ca = CertificateAuthority(tmp_path / "ca")
    broker = sasl_broker(tmp_path, "SASL_SSL", ca).start()
    admin = tmp_path / "admin.properties"
    admin.write_text(_sasl_ssl_properties(ca, "PLAIN", 'org.apache.kafka.common.security.plain.PlainLoginModule '
                                          f'required username="admin" password="{ADMIN_PASSWORD}";'))
    user = tmp_path / "user.properties"
    user.write_text(_sasl_ssl_properties(ca, "SCRAM-SHA-256", "org.apache.kafka.common.security.scram.ScramLoginModule "
                                         'required username="java-user" password="java-user-pw";'))
    classpath = java_scenario
    try:
        configs = subprocess.run(
            ["java", "-cp", classpath, "kafka.admin.ConfigCommand", "--bootstrap-server", broker.bootstrap,
             "--command-config", str(admin), "--alter", "--add-config",
             "SCRAM-SHA-256=[iterations=8192,password=java-user-pw]", "--entity-type", "users",
             "--entity-name", "java-user"], capture_output=True, text=True, timeout=120)
        assert configs.returncode == 0, configs.stdout + configs.stderr[-3000:]
        assert "Completed updating config for user java-user" in configs.stdout, configs.stdout
        assert run_scenario(java_scenario, broker.bootstrap, user) == EXPECTED
    finally:
        broker.stop()
    assert "java-user-pw" not in broker.log_text() and ADMIN_PASSWORD not in broker.log_text()


def test_java_client_scenario_with_oauthbearer(java_scenario, tmp_path):
    """The Java client's default (unsecured) OAUTHBEARER login against the unsecured validator."""
    from tests.integration.test_sasl import sasl_broker

    broker = sasl_broker(tmp_path, "SASL_PLAINTEXT").start()
    props = tmp_path / "oauth.properties"
    props.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\nsasl.jaas.config="
                     "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
                     'unsecuredLoginStringClaim_sub="java-app";\n')
    try:
        assert run_scenario(java_scenario, broker.bootstrap, props) == EXPECTED
    finally:
        broker.stop()
