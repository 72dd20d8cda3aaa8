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


def test_java_client_scenario(java_scenario, any_broker):
    classpath, classes = java_scenario
    topic = unique_topic("java")
    proc = subprocess.run(
        ["java", "-cp", f"{classes}:{classpath}", "JavaClientScenario", any_broker.bootstrap, topic, topic + "-group"],
        capture_output=True, text=True, timeout=240)
    results = dict(line[len("RESULT "):].split("=", 1) for line in proc.stdout.splitlines()
                   if line.startswith("RESULT "))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert results == {
        "retention.ms": "86400000", "partitions": "3", "idempotent_sent": "100", "transactions": "done",
        "group_committed_partitions": "3", "consumed_idempotent": "100", "consumed_committed": "50",
        "consumed_aborted": "0", "group_listed": "true",
    }
