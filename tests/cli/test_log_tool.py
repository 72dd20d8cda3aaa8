"""`schemabus log verify|dump` as subprocesses on a real broker's data dir, and the broker's
start-up check of the active segment's tail after a clean shutdown, seen by a real consumer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker.records import iter_batches, parse_header
from tests.conftest import REPO, unique_topic

RECORDS = 40


def schemabus(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", "--log-level", "ERROR", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def one_line_error(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def produce_topic(broker, topic: str, partitions: int = 2) -> None:
    """RECORDS records per partition, one batch each (linger 0, flushed one by one)."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(15)
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(RECORDS):
        for partition in range(partitions):
            p.produce(topic, key=b"key-%d" % i, value=b"value-%d-%d" % (partition, i), partition=partition,
                      headers=[("trace", b"t%d" % i)])
        assert p.flush(15) == 0


def segment(broker, topic: str, partition: int = 0):
    return broker.data_dir / f"{topic}-{partition}" / f"{0:020d}.log"


def batch_positions(path) -> list[int]:
    return [pos for pos, _ in iter_batches(path.read_bytes())]


def corrupt_last_batch(path) -> int:
    """Flip a byte inside the last batch's records (CRC-covered); returns its position."""
    last = batch_positions(path)[-1]
    data = bytearray(path.read_bytes())
    data[len(data) - 3] ^= 0xFF
    path.write_bytes(data)
    return last


def read_until_eof(bootstrap: str, topic: str, partition: int, timeout: float = 30.0):
    """(values, errors) read with check.crcs from offset 0 until end of partition, bounded."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "crc-check", "check.crcs": True,
                         "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, 0)])
    values, errors = [], []
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert time.monotonic() < deadline, (
                f"no end of partition within {timeout}s: {len(values)} records, {len(errors)} errors, "
                f"e.g. {errors[:1]} (is the consumer looping on a corrupt batch?)")
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    return values, errors
                errors.append(str(msg.error()))
                continue
            values.append(msg.value())
    finally:
        consumer.close()


def test_corrupt_last_batch_after_clean_stop_is_cut_and_check_crcs_consumer_terminates(broker_factory):
    broker = broker_factory()
    topic = unique_topic("crc")
    produce_topic(broker, topic)
    assert broker.stop() == 0
    assert (broker.data_dir / f"{topic}-0" / "clean-shutdown").exists()
    path = segment(broker, topic)
    size = path.stat().st_size
    last = corrupt_last_batch(path)

    damaged = schemabus("log", "verify", "--data-dir", str(broker.data_dir), "--topic", topic)
    assert damaged.returncode == 1, damaged.stdout + damaged.stderr
    assert f"{path} position {last} offset {RECORDS - 1}: record batch CRC mismatch" in damaged.stdout

    broker.start()
    values, errors = read_until_eof(broker.bootstrap, topic, 0)
    assert not errors
    assert values == [b"value-0-%d" % i for i in range(RECORDS - 1)]
    other, errors = read_until_eof(broker.bootstrap, topic, 1)
    assert not errors and other == [b"value-1-%d" % i for i in range(RECORDS)]
    log = broker.log_text()
    assert re.search(rf"{topic}-0: truncated {path.name} at position {last} \(offset {RECORDS - 1}\) after a clean "
                     rf"shutdown: record batch CRC mismatch.*dropped {size - last} bytes", log), log[-3000:]
    # Appends go on at the first offset that was dropped.
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce(topic, value=b"after", partition=0)
    assert p.flush(15) == 0
    values, _ = read_until_eof(broker.bootstrap, topic, 0)
    assert len(values) == RECORDS and values[-1] == b"after"
    assert broker.stop() == 0
    clean = schemabus("log", "verify", "--data-dir", str(broker.data_dir), "--topic", topic)
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_verify_and_dump_a_clean_and_a_damaged_data_dir(broker_factory):
    broker = broker_factory()
    topic = unique_topic("dump")
    produce_topic(broker, topic)
    broker.stop()
    data = str(broker.data_dir)

    ok = schemabus("log", "verify", "--data-dir", data)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    line = next(ln for ln in ok.stdout.splitlines() if ln.startswith(f"{topic}-0 "))
    assert line.split()[1] == "ok" and f"{RECORDS} records" in line and f"offsets 0-{RECORDS - 1}" in line
    assert "clean shutdown" in line
    assert ok.stdout.splitlines()[-1].endswith("verified: no problems")
    as_json = json.loads(schemabus("log", "verify", "--data-dir", data, "--topic", topic, "--partition", "1",
                                   "--deep-iteration", "--output", "json").stdout)
    assert as_json["ok"] is True
    [part] = as_json["partitions"]
    assert (part["partition"], part["records"], part["last_offset"], part["problems"]) == (f"{topic}-1", RECORDS,
                                                                                           RECORDS - 1, [])

    path = segment(broker, topic)
    dump = schemabus("log", "dump", "--files", str(path))
    assert dump.returncode == 0, dump.stderr
    lines = dump.stdout.splitlines()
    assert lines[:2] == [f"Dumping {path}", "Log starting offset: 0"]
    batches = [ln for ln in lines if ln.startswith("baseOffset:")]
    assert len(batches) == RECORDS
    fields = dict(re.findall(r"(\w+): (\S+)", batches[0]))
    assert {k: fields[k] for k in ("baseOffset", "lastOffset", "count", "position", "magic", "compresscodec",
                                   "isvalid", "isTransactional", "isControl")} == {
        "baseOffset": "0", "lastOffset": "0", "count": "1", "position": "0", "magic": "2", "compresscodec": "none",
        "isvalid": "true", "isTransactional": "false", "isControl": "false"}
    for name in ("CreateTime", "size", "crc", "producerId", "producerEpoch", "baseSequence", "lastSequence",
                 "partitionLeaderEpoch"):
        assert name in fields
    assert int(fields["crc"]) == parse_header(path.read_bytes()).crc
    assert not any(ln.startswith("|") for ln in lines)

    deep = schemabus("log", "dump", "--files", str(path.parent), "--print-data-log").stdout.splitlines()
    records = [ln for ln in deep if ln.startswith("| offset:")]
    assert len(records) == RECORDS
    assert re.fullmatch(r"\| offset: 3 CreateTime: \d+ keySize: 5 valueSize: 9 sequence: -?\d+ headerKeys: \[trace\] "
                        r"key: key-3 payload: value-0-3 headers: \[trace=t3\]", records[3]), records[3]
    index = schemabus("log", "dump", "--files", f"{path.with_suffix('.index')},{path.with_suffix('.timeindex')}")
    assert index.returncode == 0 and f"Dumping {path.with_suffix('.timeindex')}" in index.stdout
    assert re.search(r"^timestamp: \d+ offset: \d+$", index.stdout, re.M)

    # Damage: the last batch's CRC, and a torn write on the other partition.
    last = corrupt_last_batch(path)
    other = segment(broker, topic, 1)
    other_size = other.stat().st_size
    with open(other, "ab") as f:
        f.write(b"\x00" * 25)
    bad = schemabus("log", "verify", "--data-dir", data)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    out = bad.stdout
    assert re.search(rf"^{re.escape(topic)}-0 +CORRUPT ", out, re.M) and re.search(rf"^{re.escape(topic)}-1 +CORRUPT ",
                                                                                   out, re.M)
    assert f"  {path} position {last} offset {RECORDS - 1}: record batch CRC mismatch: header says 0x" in out
    assert f"  {other} position {other_size} offset {RECORDS}: 25 trailing bytes" in out
    assert out.splitlines()[-1].endswith("verified: 2 problems in 2 partitions")
    assert bad.stderr == ""

    dumped = schemabus("log", "dump", "--files", str(path), str(other)).stdout.splitlines()
    assert dumped[RECORDS + 1].endswith("isvalid: false") and f"position: {last} " in dumped[RECORDS + 1]
    assert dumped[-1] == f"Found 25 invalid bytes at the end of {other.name}"


def test_verify_is_safe_and_clean_while_the_broker_appends(broker_factory):
    broker = broker_factory({"log.segment.bytes": "20000"})
    topic = unique_topic("live")
    produce_topic(broker, topic, 1)
    stop = threading.Event()

    def produce_forever():
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1})
        i = 0
        while not stop.is_set():
            try:
                p.produce(topic, value=b"live-%d" % i + b"x" * 200, partition=0)
                i += 1
            except BufferError:
                p.poll(0.05)
            p.poll(0)
        p.flush(15)

    writer = threading.Thread(target=produce_forever)
    writer.start()
    try:
        for _ in range(5):
            result = schemabus("log", "verify", "--data-dir", str(broker.data_dir), "--topic", topic)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "no clean-shutdown marker" in result.stdout
    finally:
        stop.set()
        writer.join(30)
    assert broker.alive()
    values, errors = read_until_eof(broker.bootstrap, topic, 0)
    assert not errors and len(values) > RECORDS


def test_errors_are_one_line_with_an_exit_code(tmp_path):
    assert "is not a directory" in one_line_error(schemabus("log", "verify", "--data-dir", str(tmp_path / "no")), 2)
    (tmp_path / "empty").mkdir()
    assert "no partition directories" in one_line_error(
        schemabus("log", "verify", "--data-dir", str(tmp_path / "empty")), 2)
    assert "--partition needs --topic" in one_line_error(
        schemabus("log", "verify", "--data-dir", str(tmp_path), "--partition", "0"), 2)
    assert "no such file" in one_line_error(schemabus("log", "dump", "--files", str(tmp_path / "x.log")), 2)
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a .log, .index or .timeindex file" in one_line_error(
        schemabus("log", "dump", "--files", str(tmp_path / "notes.txt")), 2)
    assert "no segment files" in one_line_error(schemabus("log", "dump", "--files", str(tmp_path / "empty")), 2)
