"""Fixtures of the fault-injection suite (tests/conftest.py provides the brokers)."""

from __future__ import annotations

import pytest

from tests.faults.helpers import FIGURES, LONG, PrivateKafka


def pytest_report_header(config):
    return f"faults: {'long' if LONG else 'bounded (CI)'} mode (SCHEMABUS_FAULTS_LONG=1 for the long one)"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FIGURES:
        return
    terminalreporter.section("fault-injection figures")
    for row in FIGURES:
        fixed = f"{row['section']} [{row['target']}]"
        rest = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("section", "target", "mode"))
        terminalreporter.write_line(f"{fixed}: {rest}")


@pytest.fixture
def private_kafka(tmp_path):
    """A single-node Apache Kafka for this test alone, killed afterwards."""
    kafka = PrivateKafka(tmp_path / "kafka").start()
    yield kafka
    kafka.stop()
