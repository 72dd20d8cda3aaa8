"""Fixtures of the fault-injection suite (tests/conftest.py provides the brokers)."""

from __future__ import annotations

import pytest

from tests.faults.helpers import FIGURES, LONG, PrivateKafka


def pytest_report_header(config):
    return f"faults: {'long' if LONG else 'bounded (CI)'} mode (SCHEMABUS_FAULTS_LONG=1 for the long one)"


@pytest.fixture(autouse=True)
def figures_travel_with_the_report(request):
    """Moves the figures a test recorded into its report: under pytest-xdist the summary is
    printed by the controller, which sees reports, not the workers' FIGURES."""
    recorded = len(FIGURES)
    yield
    request.node.user_properties.extend(("figures", row) for row in FIGURES[recorded:])
    del FIGURES[recorded:]


def pytest_runtest_logreport(report):
    if report.when == "teardown":
        FIGURES.extend(row for name, row in report.user_properties if name == "figures")


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
