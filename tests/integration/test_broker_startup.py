"""What the broker says and refuses at start-up: state it cannot trust stops it with a clear
error, and a missing optional piece is logged once instead of being silent."""

from __future__ import annotations

import subprocess
import sys

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
