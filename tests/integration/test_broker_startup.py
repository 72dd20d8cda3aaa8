"""What the broker says and refuses at start-up: state it cannot trust stops it with a clear
error, and a missing optional piece is logged once instead of being silent."""

from __future__ import annotations

import subprocess
import sys

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource

from tests.conftest import REPO, BrokerProcess
from tests.kafka_wire import RawClient

INIT_PRODUCER_ID = 22


def _new_producer_id(broker: BrokerProcess) -> int:
    client = RawClient(broker.bootstrap)
    try:
        answer = client.call(INIT_PRODUCER_ID, 4, {"transactional_id": None, "transaction_timeout_ms": 60_000,
                                                    "producer_id": -1, "producer_epoch": -1})
    finally:
        client.close()
    assert answer["error_code"] == 0, answer
    return answer["producer_id"]


def test_producer_ids_never_repeat_across_restarts(tmp_path):
    broker = BrokerProcess(tmp_path / "data").start()
    try:
        first = _new_producer_id(broker)
        broker.restart()
        assert _new_producer_id(broker) > first
    finally:
        broker.stop()


def test_corrupt_producer_id_block_stops_the_broker(tmp_path):
    broker = BrokerProcess(tmp_path / "data").start()
    first = _new_producer_id(broker)
    broker.stop()
    block = tmp_path / "data" / ".producer-id-block"
    saved = block.read_text()
    block.write_bytes(b"\x00\x00garbage")

    result = subprocess.run(broker.command(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result
    assert ".producer-id-block is corrupt" in result.stderr and "refusing to start" in result.stderr, result.stderr

    block.write_text(saved)  # restored: the broker starts and goes on above the old ids
    broker.start()
    try:
        assert _new_producer_id(broker) > first
    finally:
        broker.stop()


class BrokerWithoutCScanner(BrokerProcess):
    """The broker as installed without a C compiler: importing broker._recordscan fails."""

    def command(self) -> list[str]:
        cmd = super().command()
        launcher = ("import sys; sys.modules['broker._recordscan'] = None; from cli.main import main; "
                    "sys.exit(main(sys.argv[1:]))")
        return [sys.executable, "-c", launcher] + cmd[3:]


def test_missing_c_record_scanner_is_logged_once_at_start(tmp_path):
    without = BrokerWithoutCScanner(tmp_path / "without").start()
    try:
        without_log = without.log_text()
    finally:
        without.stop()
    assert without_log.count("C record scanner broker/_recordscan is not built") == 1, without_log[-3000:]

    with_scanner = BrokerProcess(tmp_path / "with").start()
    try:
        assert "C record scanner" not in with_scanner.log_text()
    finally:
        with_scanner.stop()


class BrokerFromLogDirs(BrokerProcess):
    """Started as a Kafka user would: the log directory named by log.dirs, no --data-dir."""

    def command(self) -> list[str]:
        cmd = super().command()
        at = cmd.index("--data-dir")
        return cmd[:at] + cmd[at + 2:]


def test_log_dirs_names_the_log_directory(tmp_path):
    logs = tmp_path / "kafka-logs"
    broker = BrokerFromLogDirs(tmp_path / "unused", {"log.dirs": str(logs)}).start()
    try:
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        producer.produce("in-log-dirs", b"kept")
        assert producer.flush(15) == 0
        assert (logs / "in-log-dirs-0").is_dir() and not (tmp_path / "unused").exists()
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        resource = ConfigResource(ConfigResource.Type.BROKER, "1")
        assert admin.describe_configs([resource])[resource].result(15)["log.dirs"].value == str(logs)
    finally:
        broker.stop()


@pytest.mark.parametrize("configs,with_data_dir,message", [
    ({"log.dirs": "/tmp/a,/tmp/b"}, False, "log.dirs names 2 directories; schemabus keeps its logs in one directory"),
    ({"log.dirs": "/tmp/elsewhere"}, True, "and log.dirs=/tmp/elsewhere name different directories: give one"),
])
def test_log_dirs_that_cannot_be_served_are_refused(tmp_path, configs, with_data_dir, message):
    kind = BrokerProcess if with_data_dir else BrokerFromLogDirs
    broker = kind(tmp_path / "data", configs)
    result = subprocess.run(broker.command(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr, result


def test_dynamic_broker_configs_survive_a_restart(tmp_path):
    broker = BrokerProcess(tmp_path / "data").start()
    resource = ConfigResource(ConfigResource.Type.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.incremental_alter_configs([resource])[resource].result(15)
        broker.restart()
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        described = ConfigResource(ConfigResource.Type.BROKER, "1")
        entry = admin.describe_configs([described])[described].result(15)["log.retention.ms"]
        assert (entry.value, entry.source, entry.is_read_only) == (
            "3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value, False)
        assert admin.describe_configs([described])[described].result(15)["num.partitions"].is_read_only
    finally:
        broker.stop()
