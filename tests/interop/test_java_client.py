"""Kafka's own Java client (kafka-clients 4.x from Maven Central) against our broker and Kafka."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import unique_topic
from tests.interop.apache_kafka import kafka_libs

SOURCE = Path(__file__).parent / "java" / "JavaClientScenario.java"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def java_scenario(tmp_path_factory) -> tuple[str, Path]:
    if shutil.which("javac") is None:
        pytest.fail("javac is required (Java 17 is part of the project's machine)")
    classpath = f"{kafka_libs()}/*"
    out = tmp_path_factory.mktemp("java-classes")
    subprocess.run(["javac", "-cp", classpath, "-d", str(out), str(SOURCE)], check=True, timeout=300)
    return classpath, out


EXPECTED = {
    "retention.ms": "86400000", "partitions": "3", "idempotent_sent": "100", "transactions": "done",
    "group_committed_partitions": "3", "consumed_idempotent": "100", "consumed_committed": "50",
    "consumed_aborted": "0", "group_listed": "true",
}


def run_scenario(java_scenario, bootstrap: str, client_properties: Path | None = None) -> dict:
    classpath, classes = java_scenario
    topic = unique_topic("java")
    extra = [str(client_properties)] if client_properties else []
    proc = subprocess.run(
        ["java", "-cp", f"{classes}:{classpath}", "JavaClientScenario", bootstrap, topic, topic + "-group", *extra],
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
