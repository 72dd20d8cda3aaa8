"""Consume-transform-produce with send_offsets_to_transaction: every input record is reflected
exactly once in the output across a crash (kill -9) of the processor and of the broker."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import REPO, unique_topic
from tests.integration.test_broker_clients import consume_all_confluent

TOTAL = 3000
PROCESSOR = Path(__file__).with_name("ctp_processor.py")


def _start(broker, names) -> subprocess.Popen:
    log = open(broker.data_dir.parent / "processor.log", "a")
    return subprocess.Popen([sys.executable, str(PROCESSOR), broker.bootstrap, *names], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=log, text=True)


def _wait_commits(proc: subprocess.Popen, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen = 0
    while seen < count:
        assert time.monotonic() < deadline, f"processor committed {seen} transactions, expected {count}"
        line = proc.stdout.readline()
        if not line:
            return  # it exited (broker gone): fine, the test restarts it
        seen += line.startswith("committed")


@pytest.mark.slow
def test_exactly_once_across_processor_and_broker_crashes(broker_factory):
    broker = broker_factory({"group.initial.rebalance.delay.ms": "0",
                             "transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"})
    source, sink = unique_topic("ctp-in"), unique_topic("ctp-out")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for name in (source, sink):
        admin.create_topics([NewTopic(name, 2, 1)])[name].result(10)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(TOTAL):
        producer.produce(source, b"in-%d" % i, key=b"%d" % i, partition=i % 2)
        if i % 100 == 99:
            producer.flush(10)  # many small batches, so the processor needs many transactions
    producer.flush(10)
    names = [source, sink, unique_topic("ctp-group"), unique_topic("ctp-txn")]

    proc = _start(broker, names)
    _wait_commits(proc, 3)
    proc.kill()  # processor crash mid-stream
    proc.wait()

    proc = _start(broker, names)
    _wait_commits(proc, 3)
    broker.kill()  # broker crash mid-stream
    broker.start()
    proc.kill()
    proc.wait()

    for _ in range(5):  # run until the input is drained
        proc = _start(broker, names)
        proc.stdout.read()
        if proc.wait() == 0:
            break
    got = consume_all_confluent(broker.bootstrap, sink, TOTAL, partitions=2,
                                extra={"isolation.level": "read_committed"}, idle_polls=10)
    values = sorted(int(m.value()[4:]) for m in got)
    duplicates = len(values) - len(set(values))
    assert duplicates == 0, f"{duplicates} input records reflected twice"
    assert values == list(range(TOTAL)), f"{TOTAL - len(set(values))} input records missing"
