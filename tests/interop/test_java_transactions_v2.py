"""The Java client 4.1's transactions under transaction.version 2 (KIP-890 part 2), on our broker
and on Apache Kafka 4.1: the same answers from both."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import unique_topic
from tests.interop.apache_kafka import compile_java

SOURCE = Path(__file__).parent / "java" / "TransactionV2Scenario.java"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> str:
    """The classpath to run TransactionV2Scenario with."""
    return compile_java(SOURCE, tmp_path_factory.mktemp("txn-v2-classes"))


def test_transactions_v2_with_the_java_client(scenario, any_broker):
    topic = unique_topic("java-tv2")
    proc = subprocess.run(["java", "-cp", scenario, "TransactionV2Scenario", any_broker.bootstrap, topic,
                           topic + "-group", topic + "-txn"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = dict(line[len("RESULT "):].split("=", 1) for line in proc.stdout.splitlines()
                   if line.startswith("RESULT "))
    assert results == {
        # One epoch bump per transaction, committed or aborted: the client runs TV2.
        "epochs": str(list(range(1, 11))),
        # The instance fenced by its successor learns it at its next produce.
        "zombie": "InvalidProducerEpochException",
        "group_offset": "80",  # the offsets of the last committed transaction (the 9th)
        # 5 committed transactions x 3 partitions x 4 records; nothing aborted is read.
        "consumed_committed": "60", "consumed_aborted": "0", "consumed_successor": "1",
    }
